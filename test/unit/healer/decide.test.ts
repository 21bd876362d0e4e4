import { describe, expect, it } from 'vitest';
import { decideHeal, type PodView, type TargetState } from '../../../src/healer/decide.ts';
import { toPodState } from '../../../src/kube/convert.ts';
import { toPodView } from '../../../src/healer/pod.ts';

const CURRENT = 'regcred-0123456789';
const stuck = (o: Partial<PodView> = {}): PodView => ({
  namespace: 'team-a',
  name: 'app-1',
  uid: 'u1',
  serviceAccount: 'default',
  pullSecrets: [],
  controller: 'ReplicaSet/app-6d9f',
  phase: 'Pending',
  deleting: false,
  optedOut: false,
  waiting: ['ImagePullBackOff'],
  ...o,
});
const targets: TargetState = {
  covering: [{ target: 'apps', secretBase: 'regcred', serviceAccounts: ['default'] }],
  existing: new Set([CURRENT]),
};
const sa = (...names: string[]) => ({ imagePullSecrets: names });

describe('decideHeal: the one case to delete', () => {
  it.each<[string, PodView, ReturnType<typeof sa> | undefined, TargetState]>([
    [
      'admitted without our secret, back-off, its ServiceAccount has our entry now',
      stuck(),
      sa(CURRENT),
      targets,
    ],
    [
      'ErrImagePull (the first failure) counts too',
      stuck({ waiting: ['ErrImagePull'] }),
      sa(CURRENT),
      targets,
    ],
    [
      'an init container stuck on its pull',
      stuck({ waiting: ['PodInitializing', 'ImagePullBackOff'] }),
      sa(CURRENT),
      targets,
    ],
    [
      'the kubelet reported FailedToRetrieveImagePullSecret',
      stuck({ waiting: ['ContainerCreating'], missingSecretReported: true }),
      sa(CURRENT),
      targets,
    ],
    [
      "keeps the ServiceAccount's foreign entries: the new pod gets the same plus ours",
      stuck({ pullSecrets: ['team-mirror'] }),
      sa('team-mirror', CURRENT),
      targets,
    ],
    [
      'names a secret of ours that does not exist (an injected name from before a rotation)',
      stuck({ pullSecrets: ['regcred-aaaaaaaaaa'] }),
      sa(CURRENT),
      targets,
    ],
    ["a StatefulSet's pod", stuck({ controller: 'StatefulSet/db' }), sa(CURRENT), targets],
  ])('%s', (_n, p, account, t) => expect(decideHeal(p, account, t)).toEqual({ heal: true }));
});

describe('decideHeal: every pod it must not touch', () => {
  it.each<[string, PodView, ReturnType<typeof sa> | undefined, TargetState, string]>([
    [
      'a bare pod (no controller would recreate it)',
      stuck({ controller: undefined }),
      sa(CURRENT),
      targets,
      'no controller would recreate it',
    ],
    ['being deleted already', stuck({ deleting: true }), sa(CURRENT), targets, 'being deleted'],
    ['finished', stuck({ phase: 'Failed' }), sa(CURRENT), targets, 'pod Failed'],
    [
      'its pull did not fail (still creating)',
      stuck({ waiting: ['ContainerCreating'] }),
      sa(CURRENT),
      targets,
      'its pull did not fail',
    ],
    ['running', stuck({ phase: 'Running', waiting: [] }), sa(CURRENT), targets, 'its pull did not fail'],
    [
      'a crash loop is not a pull failure',
      stuck({ phase: 'Running', waiting: ['CrashLoopBackOff'] }),
      sa(CURRENT),
      targets,
      'its pull did not fail',
    ],
    ['opted out', stuck({ optedOut: true }), sa(CURRENT), targets, 'opted out'],
    [
      'not in a target namespace',
      stuck(),
      sa(CURRENT),
      { covering: [], existing: new Set() },
      'not in a target namespace or its service account',
    ],
    [
      'a ServiceAccount the target does not select',
      stuck({ serviceAccount: 'builder' }),
      sa(CURRENT),
      targets,
      'not in a target namespace or its service account',
    ],
    [
      'names our existing secret (it failed for another reason)',
      stuck({ pullSecrets: [CURRENT] }),
      sa(CURRENT),
      targets,
      'already names an existing secret of ours',
    ],
    [
      'its ServiceAccount has no entry of ours yet',
      stuck(),
      sa('team-mirror'),
      targets,
      'its service account has no entry of ours yet',
    ],
    [
      'its ServiceAccount names ours, but that secret does not exist yet',
      stuck(),
      sa(CURRENT),
      { ...targets, existing: new Set() },
      'its service account has no entry of ours yet',
    ],
    ['its ServiceAccount is gone', stuck(), undefined, targets, 'service account not found'],
    [
      'its template lists its own pull secrets (a new pod would too)',
      stuck({ pullSecrets: ['my-own'] }),
      sa(CURRENT),
      targets,
      'lists pull secrets of its own (a new pod would too)',
    ],
  ])('%s', (_n, p, account, t, why) => expect(decideHeal(p, account, t)).toEqual({ heal: false, why }));
});

describe('toPodView', () => {
  it('reads what the decision needs from a pod on the wire (as a list or the pod watch reduces it)', () => {
    expect(
      toPodView(
        toPodState({
          metadata: {
            namespace: 'team-a',
            name: 'app-1',
            uid: 'u1',
            ownerReferences: [
              { kind: 'Node', name: 'n' },
              { kind: 'ReplicaSet', name: 'app-6d9f', controller: true },
            ],
            annotations: { 'regcred-rotator.io/inject': 'false' },
          },
          spec: { imagePullSecrets: [{ name: 'a' }] },
          status: {
            phase: 'Pending',
            initContainerStatuses: [{ state: { waiting: { reason: 'PodInitializing' } } }],
            containerStatuses: [{ state: { waiting: { reason: 'ImagePullBackOff' } } }, { state: {} }],
          },
        }),
      ),
    ).toEqual({
      namespace: 'team-a',
      name: 'app-1',
      uid: 'u1',
      serviceAccount: 'default',
      pullSecrets: ['a'],
      controller: 'ReplicaSet/app-6d9f',
      phase: 'Pending',
      deleting: false,
      optedOut: true,
      waiting: ['PodInitializing', 'ImagePullBackOff'],
    });
  });
});
