import { describe, expect, it } from 'vitest';
import { assessAge } from '../../../src/policy/age.ts';
import { staleUnmanaged } from '../../../src/policy/unmanaged.ts';
import { b64, secret } from '../helpers/builders.ts';

const NOW = new Date('2026-11-29T00:00:00Z');
const daysAgo = (d: number) => new Date(NOW.getTime() - d * 86_400_000);

describe('assessAge', () => {
  const policy = { maxAgeDays: 90, warnAgeDays: 75 };
  it.each([
    [10, 'ok', 80],
    [75, 'warning', 15],
    [89.9, 'warning', 0.1],
    [90, 'violation', 0],
    [100, 'violation', -10],
  ])('%d days old -> %s', (age, state, left) => {
    const v = assessAge(daysAgo(age), NOW, policy);
    expect(v.state).toBe(state);
    expect(v.daysLeft).toBeCloseTo(left, 5);
  });
  it('no age from the store is "unknown", never "ok"', () => {
    expect(assessAge(undefined, NOW, policy).state).toBe('unknown');
  });
});

describe('staleUnmanaged', () => {
  it('reports unmanaged pull secrets past the maximum age, oldest first, with their registries', () => {
    const mk = (name: string, age: number, managed: boolean) => ({
      ...secret(name, {
        target: managed ? 'acr' : null,
        data: b64('{"auths":{"r.example.com":{"username":"u","password":"p"}}}'),
      }),
      createdAt: daysAgo(age),
    });
    const got = staleUnmanaged(
      [mk('fresh', 10, false), mk('ours-old', 400, true), mk('old', 120, false), mk('older', 300, false)],
      90,
      NOW,
    );
    expect(got.map((s) => [s.name, s.ageDays, s.registries])).toEqual([
      ['older', 300, ['r.example.com']],
      ['old', 120, ['r.example.com']],
    ]);
  });
});
