import { describe, expect, it } from 'vitest';
import { recordGroup, targetsOfConfig } from '../../../src/kube/lease-groups.ts';

describe('target groups on a shared run Lease', () => {
  it.each([
    ['a first config', [], ['a', 'b'], ['a', 'b'], [['a', 'b']]],
    ['another config beside it', [['a', 'b']], ['c'], ['a', 'b', 'c'], [['a', 'b'], ['c']]],
    [
      'a config that dropped b: its group still has b',
      [['a', 'b'], ['c']],
      ['a'],
      ['a', 'b', 'c'],
      [['c'], ['a', 'b']],
    ],
    [
      'a config that added d',
      [['a', 'b'], ['c']],
      ['a', 'd'],
      ['a', 'b', 'c', 'd'],
      [['c'], ['a', 'b', 'd']],
    ],
    ['prune forgot b (no config of its own)', [['a', 'b'], ['c']], [], ['a', 'c'], [['a'], ['c']]],
    [
      'a config renamed all its targets: a new group',
      [['a', 'b']],
      ['z'],
      ['a', 'b', 'z'],
      [['a', 'b'], ['z']],
    ],
  ])('%s', (_what, groups, mine, onLease, want) => {
    expect(recordGroup(groups, mine, onLease)).toEqual(want);
  });

  it("a config's targets: the groups that share one with it", () => {
    const groups = [['a', 'b'], ['c'], ['d', 'e']];
    expect([...targetsOfConfig(groups, new Set(['a']))].sort()).toEqual(['a', 'b']);
    expect([...targetsOfConfig(groups, new Set(['a', 'e']))].sort()).toEqual(['a', 'b', 'd', 'e']);
    expect([...targetsOfConfig(groups, new Set(['x']))]).toEqual([]);
  });
});
