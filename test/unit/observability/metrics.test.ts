import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../../src/observability/metrics.ts';
import { assessAge } from '../../../src/policy/age.ts';
import type { RunSummary, TargetResult } from '../../../src/rotation/batch/summary.ts';
import { RunTally } from '../../../src/rotation/batch/tally.ts';

const DAY = 86_400_000;
const NOW = new Date('2026-12-07T12:00:00Z');
const POLICY = { maxAgeDays: 90, warnAgeDays: 75 };
const VERSION = (
  JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

function target(name: string, updatedAt: Date | undefined): TargetResult {
  return {
    target: name,
    store: 's',
    outcome: 'ok',
    secret: undefined,
    revision: undefined,
    sourceUpdatedAt: updatedAt,
    age: assessAge(updatedAt, NOW, POLICY),
    verification: [],
    namespaces: 0,
    warnings: [],
  };
}

function summary(targets: TargetResult[]): RunSummary {
  return {
    startedAt: new Date(NOW.getTime() - 5_000),
    finishedAt: NOW,
    dryRun: false,
    targets,
    tally: new RunTally(),
    writes: 0,
    interrupted: false,
    provisionalNames: {},
  };
}

/** One sample's value from the text exposition, by metric name and exact label set text. */
async function sample(m: Metrics, series: string): Promise<number | undefined> {
  const text = await m.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('metrics', () => {
  it('build_info is 1 with the package version and the Node.js version', async () => {
    const m = new Metrics();
    expect(
      await sample(m, `regcred_rotator_build_info{version="${VERSION}",node_version="${process.version}"}`),
    ).toBe(1);
  });

  it('exports when the credentials were written and when they reach maxAgeDays, as Unix seconds', async () => {
    const updated = new Date(NOW.getTime() - 80 * DAY - 1_500); // 80 days and 1.5 s ago
    const m = new Metrics();
    m.record(summary([target('acr', updated)]), 'success');
    expect(await sample(m, 'regcred_rotator_credential_updated_timestamp_seconds{target="acr"}')).toBe(
      updated.getTime() / 1000,
    );
    expect(await sample(m, 'regcred_rotator_credential_expiry_timestamp_seconds{target="acr"}')).toBe(
      Math.round(updated.getTime() / 1000 + 90 * 86_400),
    );
    expect(await sample(m, 'regcred_rotator_last_success_timestamp_seconds')).toBe(NOW.getTime() / 1000);
    // The deprecated day gauges stay for one release, with the same meaning as before.
    expect(await sample(m, 'regcred_rotator_credential_age_days{target="acr"}')).toBe(80);
    expect(await sample(m, 'regcred_rotator_credential_days_left{target="acr"}')).toBe(10);
  });

  it('an expiry in the past stays a timestamp (the alert compares it with time())', async () => {
    const updated = new Date(NOW.getTime() - 100 * DAY);
    const m = new Metrics();
    m.record(summary([target('old', updated)]), 'policy_violation');
    const expiry = await sample(m, 'regcred_rotator_credential_expiry_timestamp_seconds{target="old"}');
    expect(expiry).toBe(NOW.getTime() / 1000 - 10 * 86_400);
  });

  it('a store that reports no age exports no timestamps for that target', async () => {
    const m = new Metrics();
    m.record(
      summary([target('ageless', undefined), target('dated', new Date(NOW.getTime() - DAY))]),
      'success',
    );
    const text = await m.registry.metrics();
    expect(text).not.toMatch(/_timestamp_seconds\{target="ageless"\}/);
    expect(text).toMatch(/regcred_rotator_credential_expiry_timestamp_seconds\{target="dated"\}/);
  });

  it('help texts mark the day gauges deprecated and name their replacements', async () => {
    const text = await new Metrics().registry.metrics();
    expect(text).toMatch(
      /# HELP regcred_rotator_credential_age_days Deprecated \(use regcred_rotator_credential_updated_timestamp_seconds\)/,
    );
    expect(text).toMatch(
      /# HELP regcred_rotator_credential_days_left Deprecated \(use regcred_rotator_credential_expiry_timestamp_seconds\)/,
    );
  });
});
