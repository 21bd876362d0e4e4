/**
 * CLI edges against the stack: a bare `regcred-rotator` prints its help and writes nothing even with a
 * config and a kubeconfig at hand (scheduler mode is the `scheduler` command); the old scheduler arguments
 * without a command are a usage error that says so; every read command takes `-o json|yaml` and prints the
 * same document either way; `--request-timeout` takes kubectl's forms.
 */
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileConfig, runCli, useCreds, Workspace } from '../helpers/rotator.ts';
import { CoordinationV1Api } from '@kubernetes/client-node';
import {
  createNamespace,
  deleteNamespaces,
  kubeConfig,
  managedSecrets,
  stack,
  suffix,
} from '../helpers/stack.ts';

const sfx = suffix();
const ns = `co-${sfx}`;
const w = new Workspace();

beforeAll(async () => {
  await createNamespace(ns);
  useCreds(w, 1);
  fileConfig(
    w,
    { name: 'co', secretName: `co-${sfx}`, namespaces: { names: [ns] } },
    { lock: { namespace: ns } },
  );
});
afterAll(() => deleteNamespaces([ns]));

describe('without a command', () => {
  it('prints the help and writes nothing, though a config and a kubeconfig are found', async () => {
    const r = await runCli([], { env: { REGCRED_ROTATOR_CONFIG: w.config, KUBECONFIG: stack.kubeconfig } });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: regcred-rotator \[options\] \[command\]/);
    expect(r.stdout).toMatch(/\n {2}scheduler \[options\] {2,}rotate on the config's schedule/);
    expect(await managedSecrets(ns)).toEqual([]);
    const leases = await kubeConfig().makeApiClient(CoordinationV1Api).listNamespacedLease({ namespace: ns });
    expect(leases.items).toEqual([]);
  });

  it("with the scheduler Deployment's old arguments: exit 2, and where scheduler mode went", async () => {
    const r = await runCli(['--config', w.config, '--log-format', 'json']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'regcred-rotator: no command given: use `regcred-rotator scheduler` for scheduler mode, `--rotate-now` for one pass',
    );
    expect(await managedSecrets(ns)).toEqual([]);
  });
});

describe('-o json|yaml on every read command', () => {
  beforeAll(async () => {
    expect((await w.rotate()).code).toBe(0);
  });

  it.each([
    [
      ['status'],
      (d: Record<string, unknown>) =>
        expect(d['namespaces']).toMatchObject([{ target: 'co', namespace: ns }]),
    ],
    [
      ['plan'],
      (d: Record<string, unknown>) => expect(d).toMatchObject({ dryRun: true, outcomes: { unchanged: 1 } }),
    ],
    [['validate'], (d: Record<string, unknown>) => expect(d).toMatchObject({ valid: true, targets: 1 })],
    [
      ['validate', '--online'],
      (d: Record<string, unknown>) =>
        expect(d['checks']).toEqual(
          expect.arrayContaining([expect.objectContaining({ check: 'registry', result: 'accepted' })]),
        ),
    ],
    [
      ['doctor', '-n', ns],
      (d: Record<string, unknown>) => expect(d).toMatchObject({ namespaces: [ns], findings: [] }),
    ],
    [
      ['prune', '--dry-run'],
      (d: Record<string, unknown>) => expect(d).toMatchObject({ dryRun: true, removedTargets: [] }),
    ],
  ])('%j', async (args, check) => {
    const json = await runCli(['--config', w.config, ...args, '-o', 'json', '--log-level', 'error']);
    expect(json.code, json.stderr).toBe(0);
    const yaml = await runCli(['--config', w.config, ...args, '-o', 'yaml', '--log-level', 'error']);
    expect(yaml.code, yaml.stderr).toBe(0);
    const doc = JSON.parse(json.stdout) as Record<string, unknown>;
    check(doc);
    const fromYaml = parse(yaml.stdout) as Record<string, unknown>;
    // The same document (what depends on the clock aside: timings, ages).
    const clock = new Set(['durationMs', 'ageDays', 'daysLeft']);
    const stable = (d: Record<string, unknown>) =>
      JSON.stringify(d, (k, v: unknown) => (clock.has(k) ? 0 : v));
    expect(stable(fromYaml)).toBe(stable(doc));
  });

  it('validate of an invalid config as a document: valid false, the problems, exit 2', async () => {
    const bad = new Workspace();
    bad.writeConfig({ stores: {}, targets: [], tagets: [] });
    const r = await runCli(['--config', bad.config, 'validate', '-o', 'json']);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toEqual({
      file: bad.config,
      valid: false,
      problems: [
        { path: '', message: 'unknown key `tagets`; did you mean `targets`?' },
        { path: 'targets', message: 'at least one target is needed' },
      ],
    });
  });
});

describe('--request-timeout', () => {
  it.each(['1m', '500ms', '45'])('takes %s', async (t) => {
    const r = await runCli(['--config', w.config, 'status', '--request-timeout', t, '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
  });

  it('refuses what it cannot read, naming the forms it takes (exit 2)', async () => {
    const r = await runCli(['--config', w.config, 'status', '--request-timeout', 'soon']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--request-timeout soon: give a duration such as 30s, 1m or 500ms');
  });
});
