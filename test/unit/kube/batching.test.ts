import { describe, expect, it } from 'vitest';
import { listClusterWide } from '../../../src/kube/k8s-gateway.ts';

describe('listClusterWide: one cluster-wide list, or one per namespace?', () => {
  it.each([
    [3, 10, false, 'a handful: per namespace'],
    [24, 100, true, 'a fair share of a small cluster: one list'],
    [24, 14_000, false, 'a few of a huge cluster: per namespace'],
    [51, 14_000, true, 'many: one list'],
    [20, undefined, true, 'cluster size unknown, more than a handful: one list'],
  ])('%d of %s namespaces -> %s (%s)', (n, total, want, _why) => {
    expect(listClusterWide(n, total)).toBe(want);
  });
});
