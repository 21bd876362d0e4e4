import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from '../base/logger.ts';
import type { ParsedSchedule } from '../config/schedule.ts';

export interface RunOutcome {
  startedAt: string;
  finishedAt: string;
  exitCode: number;
}

/**
 * Fires runs on a CronJob-compatible schedule (see cron.ts for the day-field split). Runs never overlap:
 * a tick that finds one in flight is skipped; a failed run is simply retried at the next tick. `stop()`
 * starts no new run and asks the current one to stop between two steps.
 */
export class Scheduler {
  readonly #tasks: ScheduledTask[] = [];
  readonly #stop = new AbortController();
  readonly #log: Logger;
  readonly #run: (signal: AbortSignal) => Promise<number>;
  #running: Promise<void> | undefined;
  #lastSlot = '';
  last: RunOutcome | undefined;
  runs = 0;
  skipped = 0;

  constructor(
    schedule: ParsedSchedule,
    timeZone: string | undefined,
    run: (signal: AbortSignal) => Promise<number>,
    logger: Logger,
  ) {
    this.#log = logger;
    this.#run = run;
    for (const expr of schedule.expressions) {
      this.#tasks.push(
        cron.createTask(
          expr,
          () => this.tick(schedule.hasSeconds),
          timeZone
            ? { timezone: timeZone, name: `regcred-rotator ${expr}` }
            : { name: `regcred-rotator ${expr}` },
        ),
      );
    }
  }

  start(): void {
    for (const t of this.#tasks) void t.start();
    this.#log.info({ nextRun: this.nextRun()?.toISOString() }, 'scheduler started');
  }

  nextRun(): Date | undefined {
    const next = this.#tasks.map((t) => t.getNextRun()).filter((d): d is Date => d !== null);
    return next.length ? new Date(Math.min(...next.map((d) => d.getTime()))) : undefined;
  }

  /** One tick: de-duplicated per slot (two split expressions may fire together), skipped while a run is in flight. */
  tick(hasSeconds: boolean, now = new Date()): void {
    if (this.#stop.signal.aborted) return;
    const slot = now.toISOString().slice(0, hasSeconds ? 19 : 16);
    if (slot === this.#lastSlot) return;
    this.#lastSlot = slot;
    if (this.#running) {
      this.skipped++;
      this.#log.warn({}, 'previous run still in progress; skipping this tick');
      return;
    }
    const startedAt = new Date().toISOString();
    this.#running = this.#run(this.#stop.signal)
      .then((exitCode) => {
        this.last = { startedAt, finishedAt: new Date().toISOString(), exitCode };
      })
      .catch((e: unknown) => {
        // The run function maps its own errors to exit codes (cli/exit-codes.ts); this is a bug net.
        this.#log.error({ err: (e as Error).message }, 'scheduled run threw; the next tick retries');
      })
      .finally(() => {
        this.runs++;
        this.#running = undefined;
        this.#log.info({ nextRun: this.nextRun()?.toISOString() }, 'waiting for the next scheduled run');
      });
  }

  /** A run now, outside the schedule (at start, on SIGHUP); skipped if one is in flight. */
  runNow(): void {
    this.#lastSlot = '';
    this.tick(true, new Date(0));
  }

  /** No new runs; the current one stops at its next step boundary. */
  async stop(): Promise<void> {
    this.#stop.abort();
    for (const t of this.#tasks) await t.destroy();
    await this.#running;
  }
}
