import { describe, expect, it } from 'vitest';
import { createLogger, silentLogger } from '../../../../src/base/logger.ts';
import { runRotation, type RunDeps, type RunHooks } from '../../../../src/rotation/batch/run.ts';
import type { NamespaceResult } from '../../../../src/rotation/unit/result.ts';
import { ResultRows } from '../../../../src/rotation/batch/collect.ts';
import { FakeCluster } from '../../helpers/fake-cluster.ts';
import { pod, secret } from '../../helpers/builders.ts';
import { engineConfig, FakeStore, run } from '../../helpers/engine.ts';

function seed(): { cluster: FakeCluster; store: FakeStore } {
  const cluster = new FakeCluster();
  const store = new FakeStore();
  store.set('user', 'robot');
  store.set('pass', 'pw-1');
  for (const ns of ['ns-1', 'ns-2']) {
    cluster.addNamespace(ns);
    cluster.addSa(ns, 'default');
  }
  return { cluster, store };
}

const deps = (cluster: FakeCluster, store: FakeStore): RunDeps => ({
  config: engineConfig(),
  gateway: cluster,
  logger: silentLogger(),
  openStore: () => store,
  verify: async (c) => ({ registry: c.registry, outcome: 'accepted', flow: 'basic', detail: 'ok' }),
  now: () => new Date(),
});

describe('runRotation', () => {
  it('a registry that rejects the credentials stops the target before any write', async () => {
    const { cluster, store } = seed();
    const s = await runRotation(
      {
        config: engineConfig(),
        gateway: cluster,
        logger: silentLogger(),
        openStore: () => store,
        verify: async (c) => ({
          registry: c.registry,
          outcome: 'rejected',
          flow: 'basic',
          detail: 'HTTP 401',
        }),
        now: () => new Date(),
      },
      { dryRun: false },
    );
    expect(s.targets[0]).toMatchObject({ outcome: 'failed', error: { code: 'REGISTRY_REJECTED' } });
    expect(cluster.writes).toBe(0);
    // The namespaces are read while the registry is checked; nothing inside them is.
    expect([...cluster.readsOf.keys()]).toEqual(['namespaces']);
  });

  it('verifyCredentials: false goes ahead with a warning', async () => {
    const { cluster, store } = seed();
    const config = engineConfig({ rotation: { verifyCredentials: false } });
    const verify = async () => {
      throw new Error('must not be called');
    };
    const rows = new ResultRows();
    const s = await runRotation(
      {
        config,
        gateway: cluster,
        logger: silentLogger(),
        openStore: () => store,
        verify,
        now: () => new Date(),
        hooks: { result: (r) => rows.add(r) },
      },
      { dryRun: false },
    );
    expect(s.targets[0]?.warnings).toContain(
      'credential verification is disabled (rotation.verifyCredentials: false)',
    );
    expect(rows.results().map((n) => n.outcome)).toEqual(['provisioned', 'provisioned']);
  });

  it('one namespace failing does not stop the others', async () => {
    const { cluster, store } = seed();
    cluster.addNamespace('ns-2', {}, false);
    cluster.beforeWrite = (c, n) => {
      if (n === 1) c.namespaces.set('ns-1', { name: 'ns-1', labels: {}, terminating: true });
    };
    const s = await run(cluster, store, engineConfig({ rotation: { concurrency: 1 } }));
    expect(s.namespaces.map((n) => [n.namespace, n.outcome])).toEqual([
      ['ns-1', 'failed'],
      ['ns-2', 'provisioned'],
    ]);
  });

  it('a dry run writes nothing and reports what it would do', async () => {
    const { cluster, store } = seed();
    const s = await run(cluster, store, engineConfig(), () => new Date(), true);
    expect(cluster.writes).toBe(0);
    expect(s.namespaces.map((n) => n.outcome)).toEqual(['planned', 'planned']);
    expect(s.namespaces[0]?.actions.map((a) => a.action.kind)).toEqual(['create', 'repoint']);
    expect(Object.keys(s.provisionalNames)).toHaveLength(1);
  });

  it('decides a deletion from pods read settleSeconds after the repoint (admission fills pods from a cached ServiceAccount)', async () => {
    const outcome = async (settleSeconds: number) => {
      const { cluster, store } = seed();
      const config = engineConfig({ rotation: { settleSeconds } }, { namespaces: { names: ['ns-1'] } });
      await run(cluster, store, config);
      const first = cluster.sas.get('ns-1/default')?.imagePullSecrets[0] ?? '';
      store.set('pass', 'pw-2');
      // The API server admits a pod 300 ms after the repoint with the list from before it (a stale cache).
      cluster.afterWrite = (c) => {
        const sa = c.sas.get('ns-1/default');
        if (!sa || sa.imagePullSecrets.includes(first)) return;
        c.afterWrite = undefined;
        setTimeout(() => {
          const p = { ...pod('late', [first]), namespace: 'ns-1', serviceAccountName: 'default' };
          c.pods.set('ns-1/late', p);
        }, 300);
      };
      const s = await run(cluster, store, config);
      return { first, kept: s.namespaces[0]?.kept ?? [], exists: cluster.secrets.has(`ns-1/${first}`) };
    };
    const hasty = await outcome(0);
    expect(hasty.exists).toBe(false); // the pod now references a deleted secret: what settling prevents
    const settled = await outcome(1);
    expect(settled.exists).toBe(true);
    expect(settled.kept).toEqual([
      { name: settled.first, reason: '1 live pod still references it (late)', current: true },
    ]);
  });

  it('a namespace that waits on its pods reports what it did before the wait, then the rest: each write counted once', async () => {
    const { cluster, store } = seed();
    await run(cluster, store, engineConfig());
    store.set('pass', 'pw-2');
    const calls: string[] = [];
    const line = (r: NamespaceResult) => r.actions.map((a) => `${a.action.kind}:${a.result}`).join(',');
    const hooks: RunHooks = {
      result: (r) =>
        void calls.push(`${r.namespace} ${r.pending ? 'so far' : r.outcome}: ${line(r)} (${r.writes} w)`),
    };
    const s = await runRotation({ ...deps(cluster, store), hooks }, { dryRun: false });
    expect(calls.sort()).toEqual([
      'ns-1 rotated: delete:ok (1 w)',
      'ns-1 so far: create:ok,repoint:ok (2 w)',
      'ns-2 rotated: delete:ok (1 w)',
      'ns-2 so far: create:ok,repoint:ok (2 w)',
    ]);
    const counts = Object.fromEntries([...s.tally.actions].map(([k, m]) => [k, Object.fromEntries(m)]));
    expect(counts).toEqual({ create: { ok: 2 }, repoint: { ok: 2 }, delete: { ok: 2 } });
    expect([s.writes, s.tally.outcomeCounts(), s.tally.total]).toEqual([6, { rotated: 2 }, 2]);
    // Merged, the two results are the namespace's whole: what a table prints.
    const whole = new ResultRows();
    store.set('pass', 'pw-3');
    await runRotation({ ...deps(cluster, store), hooks: { result: (r) => whole.add(r) } }, { dryRun: false });
    expect(whole.results().map((r) => `${r.namespace} ${r.outcome}: ${line(r)} (${r.writes} w)`)).toEqual([
      'ns-1 rotated: create:ok,repoint:ok,delete:ok (3 w)',
      'ns-2 rotated: create:ok,repoint:ok,delete:ok (3 w)',
    ]);
  });

  it('the `namespace converged` line names each kind of action once, across the wait on pods', async () => {
    const { cluster, store } = seed();
    cluster.addSa('ns-1', 'builder');
    const config = engineConfig({}, { serviceAccounts: ['default', 'builder'] });
    await run(cluster, store, config);
    store.set('pass', 'pw-2');
    const lines: string[] = [];
    const logger = createLogger({
      format: 'json',
      destination: { write: (l: string) => void lines.push(l) },
    });
    await runRotation({ ...deps(cluster, store), config, logger }, { dryRun: false });
    const converged = lines
      .map((l) => JSON.parse(l) as { msg: string; namespace: string; actions: string[] })
      .filter((l) => l.msg === 'namespace converged');
    // ns-1 repointed two ServiceAccounts before the wait and deleted its old secret after it.
    expect(Object.fromEntries(converged.map((l) => [l.namespace, l.actions]))).toEqual({
      'ns-1': ['create', 'repoint', 'delete'],
      'ns-2': ['create', 'repoint', 'delete'],
    });
  });

  it('an unchanged source makes zero writes; reads are a few lists', async () => {
    const { cluster, store } = seed();
    await run(cluster, store, engineConfig());
    const writes = cluster.writes;
    cluster.reads = 0;
    const s = await run(cluster, store, engineConfig());
    expect(cluster.writes).toBe(writes);
    expect(s.writes).toBe(0);
    expect(cluster.reads).toBe(4); // two named namespaces read one by one, then one list each of our secrets and ServiceAccounts
  });

  it("a live pod listing an earlier name of ours that is gone: the next run's pod pass creates it again with the new data; someone else's Secret of that name is left alone", async () => {
    const { cluster, store } = seed();
    const config = engineConfig({}, { namespaces: { names: ['ns-1', 'ns-2'] } });
    await run(cluster, store, config);
    const first = cluster.sas.get('ns-1/default')?.imagePullSecrets[0] ?? '';
    // Admitted naming `first` after it was deleted (the race settling narrows; an admission answer racing a rotation).
    store.set('pass', 'pw-2');
    await run(cluster, store, config);
    expect(cluster.secrets.has(`ns-1/${first}`)).toBe(false);
    for (const ns of ['ns-1', 'ns-2'])
      cluster.pods.set(`${ns}/late`, {
        ...pod('late', [first]),
        namespace: ns,
        serviceAccountName: 'default',
      });
    // In ns-2 someone else created a Secret of that name meanwhile.
    const { data } = secret(first, { target: null });
    await cluster.createSecret({ namespace: 'ns-2', name: first, labels: {}, annotations: {}, data });
    store.set('pass', 'pw-3');
    const s = await run(cluster, store, config);
    const third = cluster.sas.get('ns-1/default')?.imagePullSecrets[0] ?? '';
    expect(cluster.secrets.get(`ns-1/${first}`)?.data).toEqual(cluster.secrets.get(`ns-1/${third}`)?.data);
    expect(cluster.secrets.get(`ns-1/${first}`)?.labels['regcred-rotator.io/target']).toBe('acr');
    const [r1, r2] = ['ns-1', 'ns-2'].map((ns) => s.namespaces.find((r) => r.namespace === ns));
    expect(r1).toMatchObject({ outcome: 'rotated' });
    expect(r1?.kept).toEqual([
      { name: first, reason: '1 live pod still references it (late)', current: true },
    ]);
    expect(r2).toMatchObject({ outcome: 'rotated', kept: [] });
    expect(r2?.notes).toContain(`pod late lists secret ${first}, which is not ours; left alone`);
    expect(cluster.secrets.get(`ns-2/${first}`)?.labels).toEqual({});
  });
});
