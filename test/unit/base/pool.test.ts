import { describe, expect, it } from 'vitest';
import { Limiter, pool } from '../../../src/base/pool.ts';

const tick = () => new Promise((r) => setTimeout(r, 1));

describe('Limiter', () => {
  it('runs at most its limit, in arrival order, including tasks added as others finish', async () => {
    const l = new Limiter(3);
    let running = 0;
    let peak = 0;
    const started: number[] = [];
    const task = (i: number) => async () => {
      started.push(i);
      peak = Math.max(peak, ++running);
      await tick();
      running--;
    };
    const all: Promise<void>[] = [];
    for (let i = 0; i < 20; i++) {
      all.push(l.run(task(i)));
      if (i % 4 === 0) all.push(l.run(task(100 + i)).then(() => void l.run(task(200 + i))));
    }
    await Promise.all(all);
    await new Promise((r) => setTimeout(r, 20));
    expect(peak).toBe(3);
    expect(started.slice(0, 3)).toEqual([0, 100, 1]);
    expect(l.active).toBe(0);
  });

  it('frees the slot of a task that throws', async () => {
    const l = new Limiter(1);
    await expect(l.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await l.run(async () => 'next')).toBe('next');
  });
});

describe('pool', () => {
  it('stops taking items once the signal aborts and returns those it did not start', async () => {
    const stop = new AbortController();
    const done: number[] = [];
    const notStarted = await pool([1, 2, 3, 4, 5, 6], 2, stop.signal, async (i) => {
      done.push(i);
      if (i === 2) stop.abort();
      await tick();
    });
    expect(done).toEqual([1, 2]);
    expect(notStarted).toEqual([3, 4, 5, 6]);
  });
});
