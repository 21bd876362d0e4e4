import { describe, expect, it } from 'vitest';
import { parseRequestTimeout } from '../../../src/cli/options.ts';

describe('--request-timeout takes what kubectl takes', () => {
  it.each([
    ['30s', 30],
    ['1m', 60],
    ['500ms', 0.5],
    ['1m30s', 90],
    ['2h', 7200],
    ['45', 45],
    ['2.5', 2.5],
    ['0', 0],
  ])('%s → %d s', (text, seconds) => {
    expect(parseRequestTimeout(text)).toBe(seconds);
  });

  it.each(['', 'soon', '5x', '-3', '1 m'])('refuses %j with the forms it takes', (text) => {
    expect(() => parseRequestTimeout(text)).toThrow(/give a duration such as 30s, 1m or 500ms/);
  });
});
