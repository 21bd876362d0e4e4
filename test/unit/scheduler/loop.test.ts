import { describe, expect, it } from 'vitest';
import { RotatorError } from '../../../src/errors.ts';
import { silentLogger } from '../../../src/base/logger.ts';
import { Scheduler } from '../../../src/scheduler/loop.ts';

const schedule = { expressions: ['0 0 13 * *', '0 0 * * 5'], hasSeconds: false };
const flush = () => new Promise((r) => setTimeout(r, 10));

describe('Scheduler', () => {
  it('runs once per slot even when both split expressions fire, and never overlaps', async () => {
    let release: () => void = () => undefined;
    let started = 0;
    const s = new Scheduler(
      schedule,
      'UTC',
      () => {
        started++;
        return new Promise<number>((r) => (release = () => r(0)));
      },
      silentLogger(),
    );
    const t = new Date('2026-11-13T00:00:00Z');
    s.tick(false, t);
    s.tick(false, t); // the other expression, same minute
    expect(started).toBe(1);
    s.tick(false, new Date('2026-11-13T00:01:00Z')); // a later tick while the run is still going
    expect(started).toBe(1);
    expect(s.skipped).toBe(1);
    release();
    await flush();
    s.tick(false, new Date('2026-11-20T00:00:00Z'));
    expect(started).toBe(2);
    release();
    await s.stop();
    expect(s.runs).toBe(2);
  });

  it('a failing run is recorded and retried on the next tick, not in a loop', async () => {
    let calls = 0;
    const s = new Scheduler(
      schedule,
      'UTC',
      async () => {
        calls++;
        return 1; // the CLI's run maps its errors to exit codes
      },
      silentLogger(),
    );
    s.tick(false, new Date('2026-11-13T00:00:00Z'));
    await flush();
    expect(s.last?.exitCode).toBe(1);
    await flush();
    expect(calls).toBe(1);
    s.tick(false, new Date('2026-11-20T00:00:00Z'));
    await flush();
    expect(calls).toBe(2);
    await s.stop();
  });

  it('a run that throws (a bug) is logged, and the next tick still runs', async () => {
    let calls = 0;
    const s = new Scheduler(
      schedule,
      'UTC',
      () => {
        calls++;
        return Promise.reject(new RotatorError('INTERNAL', 'boom'));
      },
      silentLogger(),
    );
    s.tick(false, new Date('2026-11-13T00:00:00Z'));
    await flush();
    expect(s.runs).toBe(1);
    s.tick(false, new Date('2026-11-20T00:00:00Z'));
    await flush();
    expect(calls).toBe(2);
    await s.stop();
  });

  it('runNow() runs outside the schedule, and twice in a row when the first is done', async () => {
    let calls = 0;
    const s = new Scheduler(schedule, 'UTC', async () => ++calls && 0, silentLogger());
    s.runNow();
    await flush();
    s.runNow();
    await flush();
    expect(calls).toBe(2);
    await s.stop();
  });

  it('stop() starts no new run and passes the stop signal to the one in flight', async () => {
    let signalled = false;
    const s = new Scheduler(
      schedule,
      'UTC',
      (signal) =>
        new Promise<number>((r) => signal.addEventListener('abort', () => ((signalled = true), r(1)))),
      silentLogger(),
    );
    s.tick(false, new Date('2026-11-13T00:00:00Z'));
    await s.stop();
    expect(signalled).toBe(true);
    s.tick(false, new Date('2026-11-20T00:00:00Z'));
    expect(s.runs).toBe(1);
  });
});
