/**
 * The shipped alerts, tested the way Prometheus evaluates them: the PrometheusRule the chart renders
 * (prometheusRule.enabled) is the kustomize component's, `promtool check rules` accepts its groups, and
 * `promtool test rules` (test/alerts/alerts.test.yaml) fires each alert on synthetic series and keeps
 * each one quiet where it must. promtool comes with the stack's Prometheus (test/stack/build.sh).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse, stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { CHART, helm, objects, ROOT, valuesFile } from '../helpers/helm.ts';
import { env } from '../helpers/stack.ts';

interface Rule {
  alert: string;
  expr: string;
}
interface AlertTest {
  alertname: string;
  exp_alerts: unknown[];
}

const promtool = () => join(dirname(env('REGCRED_STACK_PROMETHEUS')), 'promtool');
const TESTS = join(ROOT, 'test/alerts/alerts.test.yaml');

function renderedGroups(): { name: string; rules: Rule[] }[] {
  const out = helm(
    'template',
    'regcred-rotator',
    CHART,
    '--show-only',
    'templates/prometheusrule.yaml',
    '-f',
    valuesFile({ prometheusRule: { enabled: true } }),
  );
  const rule = objects(out)[0] as unknown as { spec: { groups: { name: string; rules: Rule[] }[] } };
  return rule.spec.groups;
}

describe('alert rules', () => {
  it('the chart and the kustomize component ship the same groups, which are the README-described alerts', () => {
    const component = parse(
      readFileSync(join(ROOT, 'deploy/components/prometheus-rule/prometheusrule.yaml'), 'utf8'),
    ) as { spec: { groups: unknown } };
    expect(renderedGroups()).toEqual(component.spec.groups);
    expect(renderedGroups()[0]!.rules.map((r) => r.alert)).toEqual([
      'RegcredRotationStale',
      'RegcredCredentialsExpired',
      'RegcredCredentialsAgeing',
      'RegcredRegistryRejected',
      'RegcredTargetFailed',
      'RegcredNamespacesFailing',
      'RegcredFleetClusterLate',
    ]);
    // Ages are compared as timestamps with time(), never through the deprecated day gauges.
    const exprs = renderedGroups()[0]!
      .rules.map((r) => r.expr)
      .join('\n');
    expect(exprs).not.toMatch(/_days/);
  });

  it('promtool: the rules check, and every alert fires in a test and stays quiet in another', () => {
    const dir = mkdtempSync(join(tmpdir(), 'alert-rules-'));
    writeFileSync(join(dir, 'rules.yaml'), stringify({ groups: renderedGroups() }));
    copyFileSync(TESTS, join(dir, 'alerts.test.yaml'));
    const check = spawnSync(promtool(), ['check', 'rules', 'rules.yaml'], { cwd: dir, encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toMatch(/SUCCESS: 7 rules found/);
    const test = spawnSync(promtool(), ['test', 'rules', 'alerts.test.yaml'], { cwd: dir, encoding: 'utf8' });
    expect(test.status, test.stdout + test.stderr).toBe(0);
    expect(test.stdout).toMatch(/SUCCESS/);

    const cases = (
      parse(readFileSync(TESTS, 'utf8')) as { tests: { alert_rule_test: AlertTest[] }[] }
    ).tests.flatMap((t) => t.alert_rule_test);
    for (const r of renderedGroups()[0]!.rules) {
      const mine = cases.filter((c) => c.alertname === r.alert);
      expect(
        mine.some((c) => c.exp_alerts.length > 0),
        `${r.alert} fires somewhere`,
      ).toBe(true);
      expect(
        mine.some((c) => c.exp_alerts.length === 0),
        `${r.alert} stays quiet somewhere`,
      ).toBe(true);
    }
    console.log(`[alert-rules] promtool: ${cases.length} alert_rule_test cases over 7 alerts passed`);
  });

  it('promtool fails a broken expectation (the test above can fail)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'alert-rules-'));
    writeFileSync(join(dir, 'rules.yaml'), stringify({ groups: renderedGroups() }));
    writeFileSync(
      join(dir, 'alerts.test.yaml'),
      readFileSync(TESTS, 'utf8').replace('values: 0+3600x72', 'values: 0x72'), // "fresh" stale too
    );
    const test = spawnSync(promtool(), ['test', 'rules', 'alerts.test.yaml'], { cwd: dir, encoding: 'utf8' });
    expect(test.status).not.toBe(0);
    expect(test.stdout + test.stderr).toMatch(/FAILED/);
  });
});
