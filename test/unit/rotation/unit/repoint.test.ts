import { describe, expect, it } from 'vitest';
import { repoint } from '../../../../src/rotation/unit/repoint.ts';

describe('repoint', () => {
  const ours = new Set(['old-1', 'old-2']);
  it.each([
    [[], ['new']],
    [['a'], ['a', 'new']],
    [
      ['a', 'old-1', 'b'],
      ['a', 'new', 'b'],
    ],
    [
      ['old-2', 'a', 'old-1'],
      ['new', 'a'],
    ],
    [['new', 'old-1'], ['new']],
    [
      ['a', 'new', 'b', 'new'],
      ['a', 'new', 'b'],
    ],
    [
      ['regcred', 'a'],
      ['regcred', 'a', 'new'],
    ],
  ])('%j -> %j', (cur, want) => {
    expect(repoint(cur, ours, 'new')).toEqual(want);
  });
  it('never reorders foreign entries', () => {
    const cur = ['z', 'old-1', 'y', 'x', 'old-2', 'w'];
    const out = repoint(cur, ours, 'new');
    expect(out.filter((n) => n !== 'new')).toEqual(['z', 'y', 'x', 'w']);
  });
});
