/**
 * Every run ends with its `run summary` line and is counted, also when it ends on an error of its own: a
 * bad config (exit 2), the lock held by another run (exit 4), the lock not obtainable (exit 1, no RBAC on
 * Leases). A `--rotate-now` pushes `runs_total{result}` and the last-run time to the Pushgateway when the
 * config names one — even a config that is invalid elsewhere, when its metrics section is sound.
 */
import { spawnSync } from 'node:child_process';
import { CoordinationV1Api, V1MicroTime } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileConfig, useCreds, Workspace } from '../helpers/rotator.ts';
import {
  api,
  createNamespace,
  deleteNamespaces,
  env,
  kubeConfig,
  serviceAccountKubeconfig,
  suffix,
} from '../helpers/stack.ts';

const sfx = suffix();
const ns = `re-${sfx}`;
const pushgateway = env('REGCRED_STACK_PUSHGATEWAY');

/** The pushed value of runs_total for a job and result, and the job's last-run time. */
async function pushed(job: string, result: string): Promise<{ runs: number; lastRun: number }> {
  const text = await (await fetch(`${pushgateway}/metrics`)).text();
  const value = (re: RegExp) => Number(re.exec(text)?.[1] ?? Number.NaN);
  return {
    runs: value(
      new RegExp(
        `^regcred_rotator_runs_total\\{[^}]*job="${job}"[^}]*result="${result}"[^}]*\\} (\\S+)$`,
        'm',
      ),
    ),
    lastRun: value(
      new RegExp(`^regcred_rotator_last_run_timestamp_seconds\\{[^}]*job="${job}"[^}]*\\} (\\S+)$`, 'm'),
    ),
  };
}

function workspace(job: string, extra: Record<string, unknown> = {}): Workspace {
  const w = new Workspace();
  useCreds(w, 1);
  fileConfig(
    w,
    { name: 're', secretName: `re-${sfx}`, namespaces: { names: [ns] } },
    { metrics: { pushgateway, job }, lock: { namespace: ns, name: 're' }, ...extra },
  );
  return w;
}

beforeAll(() => createNamespace(ns));
afterAll(async () => {
  await deleteNamespaces([ns]);
  for (const r of ['bad', 'held', 'nolease'])
    await fetch(`${pushgateway}/metrics/job/re-${sfx}-${r}`, { method: 'DELETE' }).catch(() => undefined);
});

describe('a run that ends on an error of its own', () => {
  it('a bad config: exit 2, the end line with the problems, and the failure pushed', async () => {
    const job = `re-${sfx}-bad`;
    const w = workspace(job, { policy: { maxAgeDays: 10, warnAgeDays: 20 }, rotation: { concurency: 4 } });
    const before = Date.now() / 1000;
    const r = await w.rotate();
    expect(r.code).toBe(2);
    expect(r.summary).toMatchObject({
      exitCode: 2,
      result: 'config_invalid',
      code: 'CONFIG_INVALID',
      problems: expect.arrayContaining([
        { path: 'rotation', message: 'unknown key `concurency`; did you mean `concurrency`?' },
        { path: 'policy.warnAgeDays', message: 'must be less than maxAgeDays (10)' },
      ]),
    });
    const p = await pushed(job, 'config_invalid');
    expect(p.runs).toBe(1);
    expect(p.lastRun).toBeGreaterThanOrEqual(Math.floor(before));
  });

  it('the lock held by another run: exit 4, the end line, the failure pushed', async () => {
    const job = `re-${sfx}-held`;
    const w = workspace(job);
    await kubeConfig()
      .makeApiClient(CoordinationV1Api)
      .createNamespacedLease({
        namespace: ns,
        body: {
          metadata: { name: 're' },
          spec: { holderIdentity: 'cronjob-pod-1', leaseDurationSeconds: 120, renewTime: new V1MicroTime() },
        },
      });
    const r = await w.rotate();
    expect(r.code, r.text).toBe(4);
    expect(r.summary).toMatchObject({ exitCode: 4, result: 'lock_held', code: 'LOCK_HELD' });
    expect((await pushed(job, 'lock_held')).runs).toBe(1);
  });

  it('the lock not obtainable (no RBAC on Leases): exit 1, the end line, the failure pushed', async () => {
    const job = `re-${sfx}-nolease`;
    const w = workspace(job, { lock: { namespace: ns, name: 're-other' } });
    // Everything a names-only run needs in its namespace, but no Leases.
    const role = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'nolease', namespace: ns },
      rules: [
        { apiGroups: [''], resources: ['secrets'], verbs: ['list', 'get', 'create', 'patch', 'delete'] },
        { apiGroups: [''], resources: ['serviceaccounts'], verbs: ['list', 'get', 'patch'] },
        { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
        { apiGroups: [''], resources: ['events'], verbs: ['create'] },
      ],
    };
    const binding = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'nolease', namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'nolease' },
      subjects: [{ kind: 'ServiceAccount', name: 'nolease', namespace: ns }],
    };
    await api().createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'nolease' } } });
    const applied = spawnSync(
      env('REGCRED_STACK_KUBECTL'),
      ['--kubeconfig', env('KUBECONFIG'), 'apply', '-f', '-'],
      {
        input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [role, binding] }),
        encoding: 'utf8',
      },
    );
    expect(applied.status, applied.stderr).toBe(0);
    const kc = await serviceAccountKubeconfig(ns, 'nolease', `${w.dir}/nolease.kubeconfig`);
    const r = await w.rotate(['--kubeconfig', kc]);
    expect(r.code, r.text).toBe(1);
    expect(r.summary).toMatchObject({ exitCode: 1, result: 'lock_failed', code: 'LOCK_FAILED' });
    expect(String(r.summary?.['err'])).toMatch(
      /cannot take the run lock \(lease .*\/re-other\): .*forbidden/,
    );
    expect((await pushed(job, 'lock_failed')).runs).toBe(1);
  });
});
