import { describe, expect, it } from 'vitest';
import { Limiter, ordered, pool, poolStream } from '../../../src/base/pool.ts';

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

describe('ordered', () => {
  it('keeps at most `ahead` calls in flight and yields in the items’ order', async () => {
    let running = 0;
    let peak = 0;
    const out: number[] = [];
    for await (const v of ordered([5, 1, 4, 2, 3, 1], 3, async (ms) => {
      peak = Math.max(peak, ++running);
      await new Promise((r) => setTimeout(r, ms));
      running--;
      return ms;
    }))
      out.push(v);
    expect(out).toEqual([5, 1, 4, 2, 3, 1]);
    expect(peak).toBe(3);
  });
});

describe('poolStream', () => {
  async function* numbers(n: number, read: number[]) {
    for (let i = 0; i < n; i++) {
      read.push(i);
      yield i;
    }
  }

  it('reads the source only as fast as workers take items, and all of it', async () => {
    const read: number[] = [];
    const done: number[] = [];
    let running = 0;
    let peak = 0;
    await poolStream(numbers(30, read), 4, undefined, async (i) => {
      peak = Math.max(peak, ++running);
      // Never more than the workers' items read ahead of what is done.
      expect(read.length - done.length).toBeLessThanOrEqual(4);
      await tick();
      done.push(i);
      running--;
    });
    expect(done.sort((a, b) => a - b)).toEqual([...Array(30).keys()]);
    expect(peak).toBe(4);
  });

  it('stops on abort, closes the source, and returns what it took but did not start', async () => {
    const stop = new AbortController();
    const read: number[] = [];
    const started: number[] = [];
    let closed = false;
    async function* source() {
      try {
        yield* numbers(100, read);
      } finally {
        closed = true;
      }
    }
    const notStarted = await poolStream(source(), 3, stop.signal, async (i) => {
      started.push(i);
      if (i === 5) stop.abort();
      await tick();
    });
    expect(closed).toBe(true);
    expect(read.length).toBeLessThan(20);
    expect([...started, ...notStarted].sort((a, b) => a - b)).toEqual(read);
  });

  it('stops taking items after a worker fails, and rethrows', async () => {
    const read: number[] = [];
    await expect(
      poolStream(numbers(100, read), 2, undefined, async (i) => {
        await tick();
        if (i === 3) throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(read.length).toBeLessThan(10);
  });
});
