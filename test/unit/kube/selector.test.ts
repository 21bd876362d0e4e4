import { describe, expect, it } from 'vitest';
import { matchesSelector, parseSelector } from '../../../src/kube/selector.ts';

describe('label selectors', () => {
  const labels = { team: 'web', env: 'prod', tier: '3', 'example.com/owner': 'ops' };
  it.each([
    ['', true],
    ['team=web', true],
    ['team==web', true],
    ['team!=web', false],
    ['team in (web,api)', true],
    ['team in (api)', false],
    ['team notin (api, db)', true],
    ['team', true],
    ['!team', false],
    ['!missing', true],
    ['missing!=x', true],
    ['team=web,env=prod', true],
    ['team=web,env in (dev)', false],
    ['tier>2', true],
    ['tier<3', false],
    ['example.com/owner=ops', true],
  ])('%j matches: %s', (sel, want) => expect(matchesSelector(parseSelector(sel), labels)).toBe(want));
  it.each([
    'team in (web',
    'team=(',
    '=x',
    'a b c',
    'team in ()',
    ',team',
    'bad key!=x',
    'k=' + 'v'.repeat(64),
  ])('rejects %j', (sel) => {
    expect(() => parseSelector(sel)).toThrow();
  });
});
