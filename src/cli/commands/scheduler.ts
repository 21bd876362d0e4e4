import { loadConfig } from '../../config/load.ts';
import { Metrics } from '../../observability/metrics.ts';
import { startHttpServer } from '../../observability/server.ts';
import { Scheduler } from '../../scheduler/loop.ts';
import { executeRun } from '../execute.ts';
import { EXIT, type ExitCode } from '../exit-codes.ts';
import { configPath, connect, makeLogger, StoreSet, type GlobalOptions } from '../runtime.ts';

/** Scheduler mode: rotate on the config's schedule until SIGTERM; serve /metrics and /healthz. */
export async function runScheduler(g: GlobalOptions, waitForLock: boolean): Promise<ExitCode> {
  const logger = makeLogger(g);
  const config = loadConfig(configPath(g));
  if (config.schedule.hasSeconds)
    logger.warn(
      { schedule: config.schedule.text },
      'the schedule has a seconds field: fine here, but not valid in a Kubernetes CronJob',
    );
  const kube = connect(g, logger);
  const stores = new StoreSet(config, logger);
  const metrics = new Metrics(true);
  const scheduler = new Scheduler(
    config.schedule,
    config.timeZone,
    async (signal) =>
      (
        await executeRun(
          { config, gateway: kube.gateway, stores, logger, metrics },
          { dryRun: false, only: g.namespace, waitForLock, signal },
        )
      ).code,
    logger,
  );
  const server =
    config.metrics.port > 0
      ? await startHttpServer(
          config.metrics.port,
          metrics,
          () => ({
            schedule: config.schedule.text,
            timeZone: config.timeZone ?? 'local',
            runs: scheduler.runs,
            skippedTicks: scheduler.skipped,
            lastRun: scheduler.last,
            nextRun: scheduler.nextRun()?.toISOString(),
          }),
          logger,
        )
      : undefined;
  scheduler.start();
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  logger.info({ signal }, 'stopping: no new runs; the current one stops at its next step');
  const force = () => process.exit(130);
  process.once('SIGTERM', force);
  process.once('SIGINT', force);
  await scheduler.stop();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await stores.close();
  await kube.clients.close();
  logger.info({}, 'stopped');
  return EXIT.ok;
}
