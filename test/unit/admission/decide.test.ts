import { describe, expect, it } from 'vitest';
import {
  decide,
  patchFor,
  readReview,
  type Covering,
  type PodRequest,
} from '../../../src/admission/decide.ts';

const T: Covering = {
  target: 'apps',
  secretBase: 'regcred',
  name: 'regcred-0123456789',
  serviceAccounts: ['default'],
};
const pod = (o: Partial<PodRequest> = {}): PodRequest => ({
  namespace: 'team-a',
  pod: 'app-*',
  dryRun: false,
  serviceAccount: 'default',
  pullSecrets: [],
  hasList: false,
  optedOut: false,
  ...o,
});

describe('readReview', () => {
  const review = (request: Record<string, unknown>) => ({ apiVersion: 'admission.k8s.io/v1', request });
  const podCreate = {
    kind: { group: '', version: 'v1', kind: 'Pod' },
    resource: { group: '', version: 'v1', resource: 'pods' },
    operation: 'CREATE',
    namespace: 'team-a',
    dryRun: true,
    object: {
      metadata: { generateName: 'app-', annotations: { 'regcred-rotator.io/inject': 'false' } },
      spec: { serviceAccountName: 'builder', imagePullSecrets: [{ name: 'team-mirror' }] },
    },
  };

  it('reads a pod CREATE', () => {
    expect(readReview(review(podCreate))).toEqual({
      namespace: 'team-a',
      pod: 'app-*',
      dryRun: true,
      serviceAccount: 'builder',
      pullSecrets: ['team-mirror'],
      hasList: true,
      optedOut: true,
    });
  });
  it.each([
    ['an update', { ...podCreate, operation: 'UPDATE' }, 'not a create'],
    ['a subresource', { ...podCreate, subResource: 'ephemeralcontainers' }, 'not a pod'],
    ['another kind', { ...podCreate, kind: { group: 'apps', kind: 'Deployment' } }, 'not a pod'],
  ])('skips %s', (_n, r, why) => expect(readReview(review(r))).toEqual({ skip: why }));
  it('skips what is not a review', () =>
    expect(readReview({})).toEqual({ skip: 'not an AdmissionReview request' }));
  it('a pod without a list, without a ServiceAccount name: default', () => {
    const r = readReview(
      review({ ...podCreate, object: { metadata: { name: 'p' }, spec: { imagePullSecrets: null } } }),
    );
    expect(r).toMatchObject({
      pod: 'p',
      serviceAccount: 'default',
      pullSecrets: [],
      hasList: false,
      optedOut: false,
    });
  });
});

describe('decide', () => {
  it.each<[string, PodRequest, Covering[], string[] | undefined, string]>([
    ['a new namespace: inject', pod(), [T], undefined, 'inject apps'],
    ['not a target namespace', pod(), [], undefined, 'namespace not covered by a target'],
    ['opted out', pod({ optedOut: true }), [T], undefined, 'opted out (regcred-rotator.io/inject: "false")'],
    [
      'a ServiceAccount the target does not select',
      pod({ serviceAccount: 'builder' }),
      [T],
      undefined,
      'service account not selected by a target',
    ],
    [
      '"*" selects every ServiceAccount',
      pod({ serviceAccount: 'builder' }),
      [{ ...T, serviceAccounts: '*' }],
      undefined,
      'inject apps',
    ],
    [
      'names our current secret',
      pod({ pullSecrets: ['regcred-0123456789'], hasList: true }),
      [T],
      ['regcred-0123456789'],
      'already names our secret',
    ],
    [
      'names an older secret of ours',
      pod({ pullSecrets: ['regcred-aaaaaaaaaa'], hasList: true }),
      [T],
      ['regcred-aaaaaaaaaa'],
      'already names our secret',
    ],
    [
      'the in-place name',
      pod({ pullSecrets: ['regcred'], hasList: true }),
      [T],
      ['regcred'],
      'already names our secret',
    ],
    [
      "the ServiceAccount's foreign entries (copied by the plugin): inject after them",
      pod({ pullSecrets: ['team-mirror'], hasList: true }),
      [T],
      ['team-mirror'],
      'inject apps',
    ],
    [
      'the plugin copied from a cache without our entry; the ServiceAccount has it now',
      pod({ pullSecrets: ['team-mirror'], hasList: true }),
      [T],
      ['team-mirror', 'regcred-0123456789'],
      'inject apps',
    ],
    [
      'a list of its own',
      pod({ pullSecrets: ['my-own'], hasList: true }),
      [T],
      ['team-mirror'],
      'pod lists pull secrets of its own',
    ],
    [
      'a list of its own, the ServiceAccount has none',
      pod({ pullSecrets: ['my-own'], hasList: true }),
      [T],
      [],
      'pod lists pull secrets of its own',
    ],
    [
      'a list, and the ServiceAccount cannot be read',
      pod({ pullSecrets: ['team-mirror'], hasList: true }),
      [T],
      undefined,
      'service account unreadable',
    ],
    [
      'two targets, one already there',
      pod({ pullSecrets: ['regcred-0123456789'], hasList: true }),
      [T, { target: 'mirror', secretBase: 'mirror', name: 'mirror-9999999999', serviceAccounts: '*' }],
      ['regcred-0123456789'],
      'inject mirror',
    ],
  ])('%s', (_n, p, covering, sa, want) => {
    const d = decide(p, covering, sa);
    expect(d.inject ? `inject ${d.targets.map((t) => t.target).join(',')}` : d.why).toBe(want);
  });
});

describe('patchFor', () => {
  it('no list: adds the whole list', () =>
    expect(patchFor({ pullSecrets: [], hasList: false }, ['a'])).toEqual([
      { op: 'add', path: '/spec/imagePullSecrets', value: [{ name: 'a' }] },
    ]));
  it("a list: appends after the pod's entries, in order", () =>
    expect(patchFor({ pullSecrets: ['x'], hasList: true }, ['a', 'b'])).toEqual([
      { op: 'add', path: '/spec/imagePullSecrets/-', value: { name: 'a' } },
      { op: 'add', path: '/spec/imagePullSecrets/-', value: { name: 'b' } },
    ]));
  it('never a duplicate', () => {
    expect(patchFor({ pullSecrets: ['a'], hasList: true }, ['a'])).toEqual([]);
    expect(patchFor({ pullSecrets: [], hasList: true }, ['a', 'a'])).toHaveLength(1);
  });
});
