import { loadConfig } from '../config/load.ts';
import { ConfigError, describeError, isRotatorError, type ReportTo } from '../errors.ts';
import { createLogger, type Logger } from '../base/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { EXIT, exitCodeForError } from './exit-codes.ts';
import { configPath, type GlobalOptions } from './options.ts';

/** How a run that ended on an error of its own is counted in `runs_total{result}`. */
export type ErrorResult = 'config_invalid' | 'lock_held' | 'lock_failed' | 'failed';

export function errorResult(e: unknown): ErrorResult {
  if (isRotatorError(e, 'LOCK_HELD')) return 'lock_held';
  if (isRotatorError(e, 'LOCK_FAILED')) return 'lock_failed';
  return exitCodeForError(e) === EXIT.usage ? 'config_invalid' : 'failed';
}

/** Errors whose end line is written already (by executeRun): the command must not write a second one. */
const ended = new WeakSet<object>();

/**
 * The `run summary` line of a run that ended on an error (a bad config, no cluster, the lock held or not
 * obtainable): every run ends with one, whatever stopped it.
 */
export function logRunEnd(logger: Logger, e: unknown): void {
  if (typeof e === 'object' && e !== null) {
    if (ended.has(e)) return;
    ended.add(e);
  }
  logger.error(
    {
      exitCode: exitCodeForError(e),
      result: errorResult(e),
      code: isRotatorError(e) ? e.code : 'INTERNAL',
      // A config's problems as data, not the printed list again (the CLI prints that once, on stderr).
      err: e instanceof ConfigError ? (e.message.split('\n')[0] ?? '') : describeError(e),
      ...(e instanceof ConfigError ? { problems: e.problems } : {}),
    },
    'run summary',
  );
}

/** Where the run's metrics go: the config's Pushgateway, read even from a config that is invalid elsewhere. */
function reportTo(g: GlobalOptions, e: unknown): ReportTo | undefined {
  if (e instanceof ConfigError) return e.reportTo;
  try {
    return loadConfig(configPath(g)).metrics;
  } catch {
    return undefined;
  }
}

/**
 * A `--rotate-now` (or `plan`, or the scheduler's start) that ended on an error: its end line, and for a
 * run that would have written, the run counted (`runs_total{result}`, the last-run time) and pushed to the
 * Pushgateway when one is configured — so a CronJob that keeps failing this way is not silent.
 */
export async function endFailedRun(g: GlobalOptions, e: unknown, push: boolean): Promise<void> {
  const logger = createLogger({ level: g.logLevel ?? 'info', format: g.logFormat });
  logRunEnd(logger, e);
  const to = push ? reportTo(g, e) : undefined;
  if (!to?.pushgateway) return;
  const m = await import('../observability/metrics.ts');
  const metrics = new m.Metrics();
  metrics.recordFailure(errorResult(e), new Date());
  await m.pushMetrics(to.pushgateway, to.job, metrics, logger);
}

/** Inside executeRun: the end line, and the run counted where metrics are kept (scheduler mode serves them). */
export function endedOnError(
  logger: Logger,
  metrics: Metrics | undefined,
  dryRun: boolean,
  e: unknown,
): void {
  logRunEnd(logger, e);
  if (!dryRun) metrics?.recordFailure(errorResult(e), new Date());
}

/** Runs a command that is a run (`--rotate-now`, `plan`, `scheduler`); an error ends it with endFailedRun. */
export async function asRun<T>(g: GlobalOptions, push: boolean, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    await endFailedRun(g, e, push);
    throw e;
  }
}
