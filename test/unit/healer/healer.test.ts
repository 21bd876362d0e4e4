import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/base/logger.ts';
import { RotatorError } from '../../../src/errors.ts';
import { Healer, type HealerCluster } from '../../../src/healer/healer.ts';
import type { PodState } from '../../../src/kube/types.ts';

const CURRENT = 'regcred-0123456789';
const rawPod = (
  name: string,
  o: { pullSecrets?: string[]; reason?: string; ns?: string } = {},
): PodState => ({
  namespace: o.ns ?? 'team-a',
  name,
  uid: `uid-${name}`,
  phase: 'Pending',
  serviceAccountName: 'default',
  imagePullSecrets: o.pullSecrets ?? [],
  owner: 'ReplicaSet/rs',
  deleting: false,
  annotations: {},
  waiting: [o.reason ?? 'ImagePullBackOff'],
});

/** A cluster at the healer's seam: pods, one ServiceAccount per namespace, our secrets; deletes recorded. */
function cluster(pods: PodState[], o: { saHasOurs?: boolean; deleteFails?: RotatorError } = {}) {
  const deleted: string[] = [];
  const c: HealerCluster = {
    covering: async (ns) =>
      ns.startsWith('team-') ? [{ target: 'apps', secretBase: 'regcred', serviceAccounts: ['default'] }] : [],
    serviceAccount: async () => ({ imagePullSecrets: o.saHasOurs === false ? [] : [CURRENT] }),
    ourSecrets: async () => new Set([CURRENT]),
    pendingPods: async (namespaces) => pods.filter((p) => namespaces.includes(p.namespace)),
    deletePod: async (ns, name, uid) => {
      if (o.deleteFails) throw o.deleteFails;
      deleted.push(`${ns}/${name}@${uid}`);
    },
  };
  return { c, deleted };
}
const log = createLogger({ level: 'silent' });

describe('Healer', () => {
  it('a pod event: deletes a stuck pod once (uid precondition), however many events follow', async () => {
    const { c, deleted } = cluster([]);
    const h = new Healer(c, log);
    expect(await h.podChanged(rawPod('a'))).toBe('deleted');
    expect(await h.podChanged(rawPod('a', { reason: 'ErrImagePull' }))).toBe('skipped');
    expect(deleted).toEqual(['team-a/a@uid-a']);
  });

  it('a pod event outside the targets, or with our secret, or before the ServiceAccount has it: nothing', async () => {
    const { c, deleted } = cluster([]);
    const h = new Healer(c, log);
    expect(await h.podChanged(rawPod('x', { ns: 'other' }))).toBe('skipped');
    expect(await h.podChanged(rawPod('y', { pullSecrets: [CURRENT] }))).toBe('skipped');
    const early = cluster([], { saHasOurs: false });
    expect(await new Healer(early.c, log).podChanged(rawPod('z'))).toBe('skipped');
    expect([...deleted, ...early.deleted]).toEqual([]);
  });

  it('a batch: every namespace read once, the stuck pods deleted, the others counted by reason', async () => {
    const pods = [
      rawPod('a'),
      rawPod('b'),
      rawPod('c', { pullSecrets: [CURRENT] }),
      rawPod('d', { reason: 'ContainerCreating' }),
      rawPod('e', { ns: 'team-b' }),
      rawPod('f', { ns: 'kube-system' }),
    ];
    const { c, deleted } = cluster(pods);
    const r = await new Healer(c, log).healNamespaces(['team-a', 'team-b']);
    expect(deleted.sort()).toEqual(['team-a/a@uid-a', 'team-a/b@uid-b', 'team-b/e@uid-e']);
    expect(r).toEqual({
      checked: 5,
      deleted: ['team-a/a', 'team-a/b', 'team-b/e'],
      skipped: { 'already names an existing secret of ours': 1 },
    });
  });

  it('a pod gone or replaced meanwhile (404, uid precondition failed): not an error', async () => {
    for (const e of [new RotatorError('KUBE_NOT_FOUND', 'gone'), new RotatorError('KUBE_CONFLICT', 'uid')]) {
      const { c } = cluster([], { deleteFails: e });
      expect(await new Healer(c, log).podChanged(rawPod('a'))).toBe('gone');
    }
  });

  it('any other delete error propagates, and the pod may be tried again', async () => {
    const failing = cluster([], { deleteFails: new RotatorError('KUBE_FORBIDDEN', 'no delete pods') });
    const h = new Healer(failing.c, log);
    await expect(h.podChanged(rawPod('a'))).rejects.toThrow(/no delete pods/);
    await expect(h.podChanged(rawPod('a'))).rejects.toThrow(/no delete pods/);
  });
});
