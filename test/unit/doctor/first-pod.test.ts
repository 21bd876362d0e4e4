import { describe, expect, it } from 'vitest';
import { firstPodFindings } from '../../../src/doctor/first-pod.ts';
import type { EventRecord } from '../../../src/kube/gateway.ts';
import { isNameOf } from '../../../src/rotation/unit/naming.ts';
import { NS, pod, sa, secret } from '../helpers/builders.ts';

const CURRENT = 'regcred-0123456789';
const looksManaged = (n: string) => isNameOf('regcred', n);
const failed = (name: string): EventRecord => ({
  namespace: NS,
  involvedKind: 'Pod',
  involvedName: name,
  type: 'Warning',
  reason: 'Failed',
  message: 'Failed to pull image "r.example/app:1": 401 Unauthorized',
  count: 3,
  lastSeen: undefined,
});
const view = (o: {
  pods: ReturnType<typeof pod>[];
  events?: EventRecord[];
  saPulls?: string[];
  secrets?: string[];
}) => ({
  namespace: NS,
  secrets: (o.secrets ?? [CURRENT]).map((n) => secret(n)),
  serviceAccounts: [sa('default', o.saPulls ?? ['team-mirror', CURRENT])],
  pods: o.pods,
  events: o.events ?? o.pods.map((p) => failed(p.name)),
});

describe('doctor: a pod admitted before our entry reached its ServiceAccount', () => {
  it('is found, with its cure and what would have prevented it', () => {
    const f = firstPodFindings(
      view({ pods: [{ ...pod('app-1', ['team-mirror'], 'Pending'), owner: 'ReplicaSet/app-6d9f' }] }),
      looksManaged,
    );
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ severity: 'error', object: 'pod/app-1' });
    expect(f[0]?.problem).toMatch(
      /admitted before our pull secret reached serviceaccount\/default: it names none \(team-mirror\)/,
    );
    expect(f[0]?.fix).toMatch(
      /kubectl -n team-a delete pod app-1`\): ReplicaSet\/app-6d9f recreates it with regcred-0123456789/,
    );
    expect(f[0]?.fix).toMatch(/admission webhook.*provisions the namespace before such a pod is stored/);
    expect(f[0]?.fix).toMatch(/admission policy would have given it regcred-… at admission/);
    expect(f[0]?.fix).toMatch(/healer .* would delete it now/);
  });

  it('a pod without a controller: recreate it; the healer would not touch it', () => {
    const f = firstPodFindings(view({ pods: [pod('bare', [], 'Pending')] }), looksManaged);
    expect(f[0]?.fix).toMatch(/recreate it \(it has no controller\)/);
    expect(f[0]?.fix).toMatch(/the healer would not touch it/);
  });

  it.each([
    ['it names our existing secret', { pods: [pod('a', [CURRENT], 'Pending')] }],
    ['its pull did not fail', { pods: [pod('a', [], 'Pending')], events: [] }],
    ['it runs', { pods: [pod('a', [], 'Running')] }],
    [
      'its ServiceAccount has no entry of ours yet (doctor says so elsewhere)',
      { pods: [pod('a', [], 'Pending')], saPulls: ['team-mirror'] },
    ],
    ["its ServiceAccount's entry does not exist", { pods: [pod('a', [], 'Pending')], secrets: [] }],
  ])('not when %s', (_n, o) => expect(firstPodFindings(view(o), looksManaged)).toEqual([]));
});
