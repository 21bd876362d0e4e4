import { describe, expect, it } from 'vitest';
import { span } from '../../../src/base/span.ts';

describe('span', () => {
  it.each([
    [-5, '0 s'],
    [7_200, '7 s'],
    [89_000, '89 s'],
    [90_000, '2 min'],
    [45 * 60_000, '45 min'],
    [26 * 3_600_000, '26 h'],
    [5.25 * 3_600_000, '5.3 h'],
    [24 * 3_600_000, '24 h'],
    [72 * 3_600_000, '3 d'],
  ])('%i ms: %s', (ms, text) => expect(span(ms)).toBe(text));
});
