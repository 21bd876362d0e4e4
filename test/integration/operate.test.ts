/**
 * Operating it (issue 5) on the real stack: the Lease lock between concurrent runs and after a killed
 * run, scheduler mode with /metrics, SIGTERM mid-run, the age policy with Events and metrics, the
 * Pushgateway, and `doctor`.
 */
import { CoordinationV1Api, V1MicroTime } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileConfig, Workspace, runCli, spawnCli, useCreds, type CliResult } from '../helpers/rotator.ts';
import {
  api,
  createNamespace,
  createPod,
  env,
  freePort,
  kubeConfig,
  managedSecrets,
  pullSecretsOf,
  sleep,
  stack,
  suffix,
  testNamespaces,
  waitFor,
} from '../helpers/stack.ts';

const sfx = suffix();
const lockNs = `lock-${sfx}`;
const spaces = testNamespaces(`op-${sfx}`);
const ns = spaces.make;
beforeAll(async () => {
  await createNamespace(lockNs);
  spaces.all.push(lockNs);
});
afterAll(spaces.cleanup);

function config(
  w: Workspace,
  namespaces: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): string {
  const leaseName = `run-${Math.random().toString(36).slice(2, 7)}`;
  fileConfig(
    w,
    { name: 'op', namespaces },
    {
      lock: { namespace: lockNs, name: leaseName, leaseDurationSeconds: 6 },
      rotation: { retainSuperseded: '0' },
      ...extra,
    },
  );
  return leaseName;
}
const creds = (w: Workspace, second = false, mtime?: Date) => useCreds(w, second ? 2 : 1, mtime);
const lease = (name: string) =>
  kubeConfig().makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace: lockNs, name });

/** Makes the run Lease look held by another process that renewed it just now. */
async function holdLease(
  leaseName: string,
  holderIdentity: string,
  leaseDurationSeconds: number,
): Promise<void> {
  const coord = kubeConfig().makeApiClient(CoordinationV1Api);
  const cur = await coord.readNamespacedLease({ namespace: lockNs, name: leaseName });
  await coord.replaceNamespacedLease({
    namespace: lockNs,
    name: leaseName,
    body: {
      ...cur,
      spec: { ...cur.spec, holderIdentity, leaseDurationSeconds, renewTime: new V1MicroTime() },
    },
  });
}

/** Spawns the CLI and resolves once its JSON log shows `msg`; returns the child and its stderr so far. */
/** I1 over namespaces: every ServiceAccount referencing a managed secret references one that exists. */
async function assertNoDanglingRefs(namespaces: string[]): Promise<void> {
  for (const n of namespaces) {
    const existing = await managedSecrets(n);
    const pulls = await pullSecretsOf(n);
    const ours = pulls.filter((p) => p.startsWith('regcred-op-'));
    if (ours.length > 0)
      expect(
        ours.some((p) => existing.includes(p)),
        `${n}: ${pulls.join(',')} vs ${existing.join(',')}`,
      ).toBe(true);
  }
}

describe('the run lock (coordination.k8s.io Lease)', () => {
  const w = new Workspace();
  let leaseName = '';
  beforeAll(async () => {
    for (let i = 0; i < 30; i++) await ns(`l${i}`, { lk: sfx });
    creds(w);
    leaseName = config(w, { selector: `lk=${sfx}` }, { rotation: { retainSuperseded: '0', concurrency: 1 } });
  });

  it('two concurrent --rotate-now: exactly one rotates; the other exits 4 or finds nothing left to do', async () => {
    const runs = await Promise.all([w.rotate(), w.rotate()]);
    for (const r of runs) expect([0, 4], r.text).toContain(r.code);
    const rotated = runs.filter((r) => Number(r.summary?.['writes'] ?? 0) > 0);
    expect(rotated).toHaveLength(1);
    expect(rotated[0]?.summary?.['outcomes']).toEqual({ provisioned: 30 });
    for (const n of spaces.all.filter((x) => x.includes('-l')))
      expect(await managedSecrets(n), n).toHaveLength(1);
  });

  it('a run that has work while another holds the lock exits 4, naming the holder', async () => {
    creds(w, true);
    await holdLease(leaseName, 'cronjob-pod-1', 60);
    const r = await w.rotate();
    expect(r.code, r.text).toBe(4);
    expect(r.text).toMatch(
      /another run holds the lease .* \(holder cronjob-pod-1, expires in \d+s unless renewed\); not starting\. Use --wait-for-lock/,
    );
    expect(r.summary).toMatchObject({ exitCode: 4, result: 'lock_held', code: 'LOCK_HELD' });
    await holdLease(leaseName, '', 60);
  });

  it('--wait-for-lock waits for the holder instead of exiting', async () => {
    creds(w, true);
    // Another holder that renewed just now (a CronJob run on another node, say).
    await holdLease(leaseName, 'other-runner', 4);
    const started = Date.now();
    const waiter = await w.rotate(['--wait-for-lock']);
    expect(waiter.code, waiter.text).toBe(0);
    expect(waiter.text).toMatch(/waiting for the run lock/);
    expect(Date.now() - started).toBeGreaterThan(3000);
    expect(waiter.text).toMatch(/taking over an expired run lock/);
  });

  it('a lease left by a killed run is taken over once it expires', async () => {
    creds(w);
    const run = spawnCli(['--config', w.config, '--log-format', 'json', '--rotate-now'], /run lock acquired/);
    await run.seen;
    run.child.kill('SIGKILL');
    await run.closed;
    expect((await lease(leaseName)).spec?.holderIdentity).toMatch(/.+/);
    expect((await w.rotate()).code).toBe(4);
    await sleep(6500);
    const r = await w.rotate();
    expect(r.code, r.text).toBe(0);
    expect(r.text).toMatch(/taking over an expired run lock/);
    const after = await lease(leaseName);
    expect(after.spec?.holderIdentity ?? '').toBe('');
    expect(after.spec?.leaseTransitions).toBeGreaterThanOrEqual(1);
  });
});

describe('scheduler mode', () => {
  it('runs on a seconds-level schedule, serves /metrics between runs, rotates on change, stops on SIGTERM', async () => {
    const w = new Workspace();
    const a = await ns('sched');
    const port = await freePort();
    creds(w);
    config(w, { names: [a] }, { schedule: '*/2 * * * * *', metrics: { port } });
    const run = spawnCli(['scheduler', '--config', w.config, '--log-format', 'json'], /"msg":"run summary"/);
    await run.seen;
    const first = (await managedSecrets(a))[0];
    const m1 = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(m1).toMatch(/regcred_rotator_runs_total\{result="success"\} [1-9]/);
    expect(m1).toMatch(/regcred_rotator_last_success_timestamp_seconds \d+/);
    expect(m1).toMatch(/regcred_rotator_process_cpu_seconds_total/);
    creds(w, true);
    await waitFor(
      'a second run to rotate',
      async () =>
        (await managedSecrets(a)).length === 1 && (await managedSecrets(a))[0] !== first ? true : undefined,
      20_000,
    );
    const health = (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as {
      status: string;
      runs: number;
      nextRun: string;
    };
    expect(health.status).toBe('ok');
    const runs = (t: string) =>
      Number(/regcred_rotator_runs_total\{result="success"\} (\d+)/.exec(t)?.[1] ?? 0);
    // m1 may already count the second run (one every 2 s), and the rotating run is seen in the cluster
    // before it records its metrics: wait for the metrics to show it.
    const created = /regcred_rotator_actions_total\{kind="create",result="ok"\} [2-9]/;
    const m2 = await waitFor('the rotating run in the metrics', async () => {
      const t = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return runs(t) > runs(m1) && created.test(t) ? t : undefined;
    });
    expect(m2).toMatch(/regcred_rotator_last_success_timestamp_seconds \d+/);
    run.child.kill('SIGTERM');
    expect(await run.closed).toBe(0);
    expect(run.stderr()).toMatch(/"msg":"stopped"/);
  });
});

describe('SIGTERM in the middle of a run', () => {
  it('stops between two steps, leaves no dangling reference, and the next run converges', async () => {
    const w = new Workspace();
    const names: string[] = [];
    for (let i = 0; i < 40; i++) names.push(await ns(`t${i}`, { tm: sfx }));
    creds(w);
    config(w, { selector: `tm=${sfx}` }, { rotation: { retainSuperseded: '0', concurrency: 1 } });
    expect((await w.rotate()).code).toBe(0);
    for (const n of names.slice(0, 5)) await createPod(n, 'app');
    creds(w, true);
    const run = spawnCli(
      ['--config', w.config, '--log-format', 'json', '--rotate-now'],
      /"msg":"namespace converged"/,
    );
    await run.seen;
    run.child.kill('SIGTERM');
    const code = await run.closed;
    expect(code).toBe(1);
    expect(run.stderr()).toMatch(/stop requested/);
    expect(run.stderr()).toMatch(/"interrupted":true/);
    await assertNoDanglingRefs(names);
    const done = await w.rotate();
    expect(done.code, done.text).toBe(0);
    await assertNoDanglingRefs(names);
    const after = await Promise.all(
      names.map(async (n) => (await pullSecretsOf(n)).filter((p) => p.startsWith('regcred-op-'))),
    );
    expect(new Set(after.map((x) => x.join()))).toHaveLength(1);
  });
});

describe('age policy, Events, metrics, Pushgateway', () => {
  it('a 100-day-old source: still rolled out, exit 3, a PolicyViolation Warning Event, metrics in the Pushgateway', async () => {
    const w = new Workspace();
    const a = await ns('policy');
    const old = new Date(Date.now() - 100 * 86_400_000);
    creds(w, false, old);
    const leaseName = config(
      w,
      { names: [a] },
      { metrics: { pushgateway: env('REGCRED_STACK_PUSHGATEWAY'), job: `regcred-${sfx}` } },
    );
    const r = await w.rotate();
    expect(r.code, r.text).toBe(3);
    expect((await managedSecrets(a)).length).toBe(1);
    const t = (r.summary?.['targets'] as { policy: string; ageDays: number }[])[0];
    expect(t).toMatchObject({ policy: 'violation', ageDays: 100 });
    const events = (await api().listNamespacedEvent({ namespace: lockNs })).items.filter(
      (e) => e.involvedObject.name === leaseName,
    );
    expect(events.map((e) => [e.type, e.reason])).toContainEqual(['Warning', 'PolicyViolation']);
    expect(events.find((e) => e.reason === 'PolicyViolation')?.message).toMatch(
      /credentials are 100 days old/,
    );
    const pushed = await (await fetch(`${env('REGCRED_STACK_PUSHGATEWAY')}/metrics`)).text();
    const mine = pushed.split('\n').filter((l) => l.includes(`job="regcred-${sfx}"`));
    expect(mine.join('\n')).toMatch(/regcred_rotator_policy_violation\{.*target="op".*\} 1/);
    expect(mine.join('\n')).toMatch(/regcred_rotator_credential_age_days\{.*target="op".*\} 100/);
    expect(mine.join('\n')).toMatch(/regcred_rotator_runs_total\{.*result="policy_violation".*\} 1/);
    // The timestamp forms the shipped alerts use: when the store wrote it, when it reached maxAgeDays (90).
    const value = (name: string) =>
      Number(
        mine
          .find((l) => l.startsWith(`${name}{`) && l.includes('target="op"'))
          ?.split(' ')
          .pop(),
      );
    const updated = value('regcred_rotator_credential_updated_timestamp_seconds');
    expect(Math.abs(updated - old.getTime() / 1000)).toBeLessThan(2);
    expect(value('regcred_rotator_credential_expiry_timestamp_seconds') - updated).toBeCloseTo(
      90 * 86_400,
      -1,
    );
    expect(mine.join('\n')).toMatch(/regcred_rotator_build_info\{.*version="\d+\.\d+\.\d+".*\} 1/);
    const status = await runCli(['--config', w.config, 'status', '-o', 'json']);
    expect(status.code).toBe(3);
    expect(
      (JSON.parse(status.stdout) as { namespaces: { age: { state: string; daysLeft: number } }[] })
        .namespaces[0]?.age,
    ).toMatchObject({ state: 'violation' });
  });

  it('a rotation writes Rotated Events on the new Secret and the ServiceAccount; a failed push is only a warning', async () => {
    const w = new Workspace();
    const a = await ns('events');
    creds(w);
    config(w, { names: [a] }, { metrics: { pushgateway: `http://127.0.0.1:${await freePort()}` } });
    const r = await w.rotate();
    expect(r.code, r.text).toBe(0);
    expect(r.text).toMatch(/pushing metrics failed/);
    const events = (await api().listNamespacedEvent({ namespace: a })).items;
    const rotated = events
      .filter((e) => e.reason === 'Rotated')
      .map((e) => e.involvedObject.kind)
      .sort();
    expect(rotated).toEqual(['Secret', 'ServiceAccount']);
    expect(events.every((e) => e.source?.component === 'regcred-rotator' || e.reason !== 'Rotated')).toBe(
      true,
    );
  });
});

describe('doctor', () => {
  it('finds each cause of a failing pull, with a one-line fix', async () => {
    const w = new Workspace();
    const a = await ns('doctor');
    creds(w);
    config(w, { names: [a] });
    expect((await w.rotate()).code).toBe(0);
    const [ours] = await managedSecrets(a);
    // 1. a pod that references a secret that was then deleted
    await api().createNamespacedSecret({
      namespace: a,
      body: {
        metadata: { name: 'gone-soon' },
        type: 'kubernetes.io/dockerconfigjson',
        data: { '.dockerconfigjson': Buffer.from('{"auths":{}}').toString('base64') },
      },
    });
    await api().createNamespacedPod({
      namespace: a,
      body: {
        metadata: { name: 'orphan' },
        spec: {
          imagePullSecrets: [{ name: 'gone-soon' }],
          containers: [{ name: 'c', image: `${stack.registryBasic}/app:1` }],
        },
      },
    });
    await api().deleteNamespacedSecret({ namespace: a, name: 'gone-soon' });
    // 2. a ServiceAccount pointing at a missing secret, 3. a secret of the wrong type in use
    await api().createNamespacedSecret({
      namespace: a,
      body: { metadata: { name: 'opaque-one' }, type: 'Opaque', data: { x: 'eQ==' } },
    });
    await api().createNamespacedServiceAccount({
      namespace: a,
      body: {
        metadata: { name: 'builder' },
        imagePullSecrets: [{ name: 'never-created' }, { name: 'opaque-one' }],
      },
    });
    // 4. credentials the registry rejects
    const bad = JSON.stringify({
      auths: {
        [stack.registryBasic]: {
          username: stack.user,
          password: 'wrong-password',
          auth: Buffer.from(`${stack.user}:wrong-password`).toString('base64'),
        },
      },
    });
    await api().createNamespacedSecret({
      namespace: a,
      body: {
        metadata: { name: 'stale-creds' },
        type: 'kubernetes.io/dockerconfigjson',
        data: { '.dockerconfigjson': Buffer.from(bad).toString('base64') },
      },
    });
    await api().createNamespacedServiceAccount({
      namespace: a,
      body: { metadata: { name: 'deployer' }, imagePullSecrets: [{ name: 'stale-creds' }] },
    });
    const r: CliResult = await runCli(['--config', w.config, 'doctor', '-n', a, '-o', 'json']);
    expect(r.code).toBe(1);
    const findings = (
      JSON.parse(r.stdout) as {
        findings: { severity: string; object: string; problem: string; fix: string }[];
      }
    ).findings;
    const f = (object: string, re: RegExp) => findings.find((x) => x.object === object && re.test(x.problem));
    expect(f('pod/orphan', /references missing pull secret "gone-soon"/)?.fix).toMatch(/recreate the pod/);
    expect(
      f('serviceaccount/builder', /references pull secret "never-created", which does not exist/)?.fix,
    ).toMatch(/kubectl -n .* edit serviceaccount builder/);
    expect(f('secret/opaque-one', /has type Opaque/)?.fix).toMatch(/recreate it/);
    expect(f('secret/stale-creds', /rejects its credentials/)?.fix).toMatch(/--rotate-now -n/);
    expect(findings.some((x) => x.object === `secret/${ours}`)).toBe(false);
    expect(findings.every((x) => x.fix.length > 10)).toBe(true);
    expect(r.stdout).not.toContain('wrong-password');
    const table = await runCli(['--config', w.config, 'doctor', '-n', a]);
    expect(table.stdout).toMatch(/^SEVERITY\s+NAMESPACE\s+OBJECT\s+PROBLEM\s+FIX/m);
  });
});
