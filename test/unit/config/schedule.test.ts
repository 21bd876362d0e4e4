import cron from 'node-cron';
import { describe, expect, it } from 'vitest';
import { parseSchedule } from '../../../src/config/schedule.ts';

/** Every minute in [from, to) on which the union of the node-cron expressions fires. */
function fires(expressions: string[], from: Date, days: number): string[] {
  const tasks = expressions.map((e) => cron.createTask(e, () => undefined, { timezone: 'UTC' }));
  const out: string[] = [];
  for (let t = from.getTime(); t < from.getTime() + days * 86_400_000; t += 60_000) {
    const d = new Date(t);
    if (tasks.some((task) => task.match(d))) out.push(d.toISOString().slice(0, 16));
  }
  for (const t of tasks) void t.destroy();
  return out;
}

// The first two tests step through 43,200 minutes with node-cron's own matcher: a few seconds on a busy
// 2-core machine, so they get more than the default 5 s.
describe('schedules mean what they mean in a CronJob', { timeout: 30_000 }, () => {
  it('node-cron alone ANDs day-of-month and day-of-week (the difference we correct)', () => {
    // 2026-11: the 13th is a Friday. "0 0 13 * 5" in cron fires on every 13th and every Friday.
    expect(fires(['0 0 13 * 5'], new Date('2026-11-01T00:00:00Z'), 30)).toEqual(['2026-11-13T00:00']);
  });
  it('our split ORs them, like cron and the CronJob controller', () => {
    const p = parseSchedule('0 0 13 * 5');
    if ('error' in p) throw new Error(p.error);
    expect(p.expressions).toEqual(['0 0 13 * *', '0 0 * * 5']);
    expect(fires(p.expressions, new Date('2026-11-01T00:00:00Z'), 30)).toEqual([
      '2026-11-06T00:00',
      '2026-11-13T00:00',
      '2026-11-20T00:00',
      '2026-11-27T00:00',
    ]);
  });
  it('a restricted field with a * in the other keeps AND semantics (nothing to split)', () => {
    const p = parseSchedule('30 2 * * 1-5');
    if ('error' in p) throw new Error(p.error);
    expect(p.expressions).toEqual(['30 2 * * 1-5']);
  });
  it('*/2 counts as restricted (robfig/cron clears the star bit for steps > 1)', () => {
    const p = parseSchedule('0 0 */2 * 1');
    if ('error' in p) throw new Error(p.error);
    expect(p.expressions).toHaveLength(2);
  });
  it.each([
    ['@daily', ['0 0 * * *']],
    ['@hourly', ['0 * * * *']],
    ['*/10 * * * * *', ['*/10 * * * * *']],
  ])('%s', (s, want) => expect(parseSchedule(s)).toMatchObject({ expressions: want }));
  it.each([['61 * * * *'], ['* * *'], ['@fortnightly'], ['TZ=UTC 0 3 * * *']])(
    'rejects %j with a reason',
    (s) => {
      expect(parseSchedule(s)).toHaveProperty('error');
    },
  );
});
