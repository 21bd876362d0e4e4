import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/base/logger.ts';
import type { HealerCluster } from '../../../src/healer/healer.ts';
import { schedulerHealer } from '../../../src/healer/scheduler.ts';
import type { KubeRest } from '../../../src/kube/rest.ts';
import type { PodState } from '../../../src/kube/types.ts';
import type { NamespaceResult } from '../../../src/rotation/unit/result.ts';
import { desired } from '../helpers/builders.ts';
import { engineConfig } from '../helpers/engine.ts';
import { FakeCluster } from '../helpers/fake-cluster.ts';

const CURRENT = 'regcred-0123456789';
const stuck = (name: string, o: Partial<PodState> = {}): PodState => ({
  namespace: 'ns-1',
  name,
  uid: `uid-${name}`,
  phase: 'Pending',
  serviceAccountName: 'default',
  imagePullSecrets: [],
  owner: 'ReplicaSet/app',
  deleting: false,
  annotations: {},
  waiting: ['ImagePullBackOff'],
  ...o,
});

/** The healer's reads and its delete at their seam; pods pending per namespace; deletes recorded. */
function seam(pods: PodState[]) {
  const deleted: string[] = [];
  const reads = { pending: 0 };
  let saHasOurs = true;
  const cluster: HealerCluster = {
    covering: async () => [{ target: 'acr', secretBase: 'regcred', serviceAccounts: ['default'] }],
    serviceAccount: async () => ({ imagePullSecrets: saHasOurs ? [CURRENT] : [] }),
    ourSecrets: async () => new Set([CURRENT]),
    pendingPods: async (namespaces) => (
      reads.pending++,
      pods.filter((p) => namespaces.includes(p.namespace))
    ),
    deletePod: async (ns, name) => void deleted.push(`${ns}/${name}`),
  };
  return { cluster, deleted, reads, setSaHasOurs: (v: boolean) => (saHasOurs = v) };
}

const result = (kinds: ('repoint' | 'create')[]): NamespaceResult => ({
  target: 'acr',
  namespace: 'ns-1',
  outcome: 'provisioned',
  secret: CURRENT,
  actions: kinds.map((kind) => ({
    action:
      kind === 'repoint'
        ? { kind, serviceAccount: 'default', resourceVersion: '1', from: [], to: [CURRENT] }
        : { kind, name: CURRENT },
    result: 'ok' as const,
    at: 0,
  })),
  kept: [],
  notes: [],
  writes: kinds.length,
});

function start(pods: PodState[] = [], namespaces?: string[]) {
  const gateway = new FakeCluster();
  const s = seam(pods);
  const h = schedulerHealer({
    config: engineConfig({ rotation: { healPods: true } }),
    gateway,
    rest: undefined as unknown as KubeRest, // the seam replaces every call that would use it
    logger: createLogger({ level: 'silent' }),
    desired: () => [desired({ name: CURRENT })],
    cluster: s.cluster,
    namespaces,
  });
  const stop = new AbortController();
  const running = h.start(stop.signal);
  return { gateway, h, ...s, stop: async () => (stop.abort(), await Promise.all(running)) };
}

describe('schedulerHealer', () => {
  it('watches Pending pods through the gateway, cluster-wide or per namespace', async () => {
    const all = start();
    expect(all.h.watches).toHaveLength(1);
    await all.stop();
    const some = start([], ['ns-1', 'ns-2']);
    expect(some.h.watches).toHaveLength(2);
    await some.stop();
  });

  it('a pod event of a failed pull deletes the pod once its ServiceAccount has our entry; others are left', async () => {
    const t = start();
    t.gateway.notify('pods', 'MODIFIED', stuck('a'));
    t.gateway.notify('pods', 'MODIFIED', stuck('b', { waiting: ['ContainerCreating'] }));
    t.gateway.notify('pods', 'MODIFIED', stuck('c', { owner: undefined }));
    t.gateway.notify('pods', 'MODIFIED', stuck('d', { imagePullSecrets: [CURRENT] }));
    t.gateway.notify('pods', 'MODIFIED', stuck('e', { phase: 'Running' })); // outside the watch's phase
    t.gateway.notify('pods', 'DELETED', stuck('f'));
    await t.h.drain();
    expect(t.deleted).toEqual(['ns-1/a']);
    // The same pod's next events (each retry of its pull) do not delete it twice.
    t.gateway.notify('pods', 'MODIFIED', stuck('a', { waiting: ['ErrImagePull'] }));
    await t.h.drain();
    expect(t.deleted).toEqual(['ns-1/a']);
    await t.stop();
  });

  it('a pod that failed before our entry arrived is healed when a convergence repoints its namespace, not before', async () => {
    const pods = [stuck('a'), stuck('b')];
    const t = start(pods);
    t.setSaHasOurs(false);
    t.gateway.notify('pods', 'MODIFIED', pods[0]!);
    await t.h.drain();
    expect(t.deleted).toEqual([]);
    // A convergence that only created a Secret changes nothing the pods can use: no read.
    expect(await t.h.converged('ns-1', [result(['create'])])).toBeUndefined();
    expect(t.reads.pending).toBe(0);
    t.setSaHasOurs(true);
    const r = await t.h.converged('ns-1', [result(['create', 'repoint'])]);
    expect(r?.deleted.sort()).toEqual(['ns-1/a', 'ns-1/b']);
    expect(t.deleted.sort()).toEqual(['ns-1/a', 'ns-1/b']);
    await t.stop();
  });
});
