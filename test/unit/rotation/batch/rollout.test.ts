/**
 * "Rollout complete for revision R": emitted per target after a run that leaves every namespace of the
 * target on the desired secret and no superseded secret holding the old credential, once the settle time
 * has passed — and never when anything of that is not known to hold.
 */
import { describe, expect, it } from 'vitest';
import type { RolloutComplete } from '../../../../src/rotation/batch/rollout.ts';
import { FakeCluster } from '../../helpers/fake-cluster.ts';
import { engineConfig, FakeStore, run } from '../../helpers/engine.ts';

function seed(namespaces = ['ns-1', 'ns-2']): { cluster: FakeCluster; store: FakeStore } {
  const cluster = new FakeCluster();
  const store = new FakeStore();
  store.set('user', 'robot');
  store.set('pass', 'pw-1');
  for (const ns of namespaces) {
    cluster.addNamespace(ns);
    cluster.addSa(ns, 'default');
  }
  return { cluster, store };
}

/** A run and the rollout events it emitted. */
async function rollouts(
  cluster: FakeCluster,
  store: FakeStore,
  config = engineConfig(),
  opts: { dryRun?: boolean; only?: string[]; now?: () => Date } = {},
): Promise<RolloutComplete[]> {
  const events: RolloutComplete[] = [];
  await run(
    cluster,
    store,
    config,
    opts.now,
    opts.dryRun,
    undefined,
    {
      rolloutComplete: (e) => void events.push(e),
    },
    opts.only,
  );
  return events;
}

describe('rollout complete', () => {
  it('follows a provisioning and a rotation, with the source revision and the namespace count', async () => {
    const { cluster, store } = seed();
    const first = await rollouts(cluster, store);
    expect(first).toEqual([
      {
        target: 'acr',
        revision: 'user@1,pass@1',
        revisionId: expect.any(String),
        namespaces: 2,
        at: expect.any(Date),
      },
    ]);
    store.set('pass', 'pw-2');
    const second = await rollouts(cluster, store);
    expect(second.map((e) => [e.target, e.revision, e.namespaces])).toEqual([['acr', 'user@1,pass@2', 2]]);
    expect(second[0]?.revisionId).not.toBe(first[0]?.revisionId);
    // Every namespace is on the new secret, the old one gone.
    for (const ns of ['ns-1', 'ns-2'])
      expect([...cluster.secrets.values()].filter((s) => s.namespace === ns).map((s) => s.name)).toEqual([
        `regcred-${second[0]?.revisionId}`,
      ]);
  });

  it('is emitted by a run with nothing to do, too', async () => {
    const { cluster, store } = seed();
    await rollouts(cluster, store);
    const writes = cluster.writes;
    expect((await rollouts(cluster, store)).map((e) => e.revision)).toEqual(['user@1,pass@1']);
    expect(cluster.writes).toBe(writes);
  });

  it('is not emitted by a dry run, nor by a run limited with -n', async () => {
    const { cluster, store } = seed();
    expect(await rollouts(cluster, store, engineConfig(), { dryRun: true })).toEqual([]);
    expect(await rollouts(cluster, store, engineConfig(), { only: ['ns-1', 'ns-2'] })).toEqual([]);
    expect(await rollouts(cluster, store)).toHaveLength(1);
  });

  it('is not emitted while a namespace failed', async () => {
    const { cluster, store } = seed();
    cluster.beforeWrite = (c, n) => {
      if (n === 1) c.namespaces.set('ns-1', { name: 'ns-1', labels: {}, terminating: true });
    };
    expect(await rollouts(cluster, store, engineConfig({ rotation: { concurrency: 1 } }))).toEqual([]);
  });

  it('is not emitted while a namespace is terminating (it may still hold the old secret)', async () => {
    const { cluster, store } = seed();
    await rollouts(cluster, store);
    cluster.addNamespace('ns-2', {}, true);
    store.set('pass', 'pw-2');
    expect(await rollouts(cluster, store)).toEqual([]);
  });

  it('is not emitted for a target that failed before any write; the others still are', async () => {
    const { cluster, store } = seed();
    const config = engineConfig();
    const broken = {
      ...config.targets[0]!,
      name: 'broken',
      secretName: 'other',
      credentials: { ...config.targets[0]!.credentials },
    };
    store.values.delete('user');
    store.set('user2', 'robot');
    const events = await rollouts(cluster, store, {
      ...config,
      targets: [
        {
          ...config.targets[0]!,
          credentials: { shape: 'username-password', username: { key: 'user2' }, password: { key: 'pass' } },
        },
        broken,
      ],
    });
    expect(events.map((e) => e.target)).toEqual(['acr']);
  });

  it('is not emitted while a kept superseded secret still holds the old data (refreshSuperseded: false)', async () => {
    const { cluster, store } = seed(['ns-1']);
    const keepOld = (refreshSuperseded: boolean) =>
      engineConfig({ rotation: { retainSuperseded: '24h', refreshSuperseded } });
    await rollouts(cluster, store, keepOld(false));
    store.set('pass', 'pw-2');
    expect(await rollouts(cluster, store, keepOld(false))).toEqual([]);
    expect([...cluster.secrets.values()]).toHaveLength(2); // the old one kept, with the old data
    // Refreshed, the kept one holds the new credentials: the rollout is complete.
    expect((await rollouts(cluster, store, keepOld(true))).map((e) => e.revision)).toEqual(['user@1,pass@2']);
  });

  it('waits the settle time after the last data change before it is emitted', async () => {
    const { cluster, store } = seed(['ns-1']);
    const config = engineConfig({ rotation: { retainSuperseded: '24h', settleSeconds: 1 } });
    await rollouts(cluster, store, config);
    store.set('pass', 'pw-2');
    const [e] = await rollouts(cluster, store, config);
    const refreshedAt = Math.max(
      ...[...cluster.secrets.values()].map((s) =>
        Date.parse(s.annotations['regcred-rotator.io/rotated-at'] ?? ''),
      ),
    );
    expect(e?.at.getTime()).toBeGreaterThanOrEqual(refreshedAt + 1000);
  });

  it('a run with nothing to do still waits the settle time after what the Secrets say changed last', async () => {
    const { cluster, store } = seed(['ns-1']);
    const config = (settleSeconds: number) =>
      engineConfig({ rotation: { retainSuperseded: '24h', settleSeconds } });
    await rollouts(cluster, store, config(0));
    store.set('pass', 'pw-2');
    // The rotation comes 2 s after the provisioning (a refresh right at a creation is the creation's stamp).
    const later = () => new Date(Date.now() + 2000);
    await rollouts(cluster, store, config(0), { now: later }); // the old secret kept and refreshed, no wait
    const refreshedAt = Math.max(
      ...[...cluster.secrets.values()].map((s) =>
        Date.parse(s.annotations['regcred-rotator.io/rotated-at'] ?? ''),
      ),
    );
    const writes = cluster.writes;
    const [e] = await rollouts(cluster, store, config(1), { now: later });
    expect(cluster.writes).toBe(writes);
    expect(e?.at.getTime()).toBeGreaterThanOrEqual(refreshedAt + 1000);
  });

  it('is not emitted when the run is stopped', async () => {
    const { cluster, store } = seed();
    const stop = new AbortController();
    const events: RolloutComplete[] = [];
    const { runRotation } = await import('../../../../src/rotation/batch/run.ts');
    const { silentLogger } = await import('../../../../src/base/logger.ts');
    cluster.afterWrite = () => stop.abort();
    await runRotation(
      {
        config: engineConfig({ rotation: { concurrency: 1 } }),
        gateway: cluster,
        logger: silentLogger(),
        openStore: () => store,
        verify: async (c) => ({ registry: c.registry, outcome: 'accepted', flow: 'basic', detail: 'ok' }),
        now: () => new Date(),
        hooks: { rolloutComplete: (e) => void events.push(e) },
      },
      { dryRun: false, signal: stop.signal },
    );
    expect(events).toEqual([]);
  });
});
