import { loadConfig } from '../../config/load.ts';
import { describeError, isRotatorError } from '../../errors.ts';
import { EventRecorder } from '../../observability/events.ts';
import { Metrics } from '../../observability/metrics.ts';
import { startHttpServer } from '../../observability/server.ts';
import { RunLock } from '../../scheduler/lock.ts';
import { Scheduler } from '../../scheduler/loop.ts';
import { Reactor } from '../../scheduler/reactor.ts';
import { executeRun } from '../execute.ts';
import { EXIT, exitCodeForError, type ExitCode } from '../exit-codes.ts';
import { configPath, connect, makeLogger, StoreSet, type GlobalOptions } from '../runtime.ts';

/** How long the event side keeps the run lock after its last write before giving it back. */
const LOCK_IDLE_MS = 2000;

/**
 * Scheduler mode: a full pass at start and on `schedule` (and on SIGHUP) reads the store and converges
 * every namespace; between passes, watches react within seconds to new namespaces and ServiceAccounts and
 * to drift, with the credentials of the last pass. Serves /metrics and /healthz until SIGTERM.
 */
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
  const stop = new AbortController();

  // The event side writes under the same run lock as full passes, taken at its first write, given back idle.
  const lock = new RunLock(
    kube.gateway,
    { ...config.lock, targets: config.targets.map((t) => t.name) },
    logger,
  );
  let held: Promise<void> | undefined;
  let idleTimer: NodeJS.Timeout | undefined;
  let events = new EventRecorder(
    config.rotation.emitEvents ? kube.gateway : undefined,
    { namespace: config.lock.namespace, leaseName: config.lock.name },
    logger,
  );
  const reactor = new Reactor({
    config,
    gateway: kube.gateway,
    rest: kube.clients.rest,
    logger: logger.child({ mode: 'watch' }),
    hooks: { namespaceDone: (r, d) => events.namespaceDone(r, d) },
    only: g.namespace,

    beforeWrite: async () => {
      clearTimeout(idleTimer);
      held ??= lock.acquire(true, stop.signal).then(() => lock.startRenewing(() => (held = undefined)));
      await held;
    },
    idle: async () => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(() => {
        const h = held;
        held = undefined;
        void events.flush();
        events = new EventRecorder(
          config.rotation.emitEvents ? kube.gateway : undefined,
          { namespace: config.lock.namespace, leaseName: config.lock.name },
          logger,
        );
        if (h) void h.then(() => lock.release()).catch(() => undefined);
      }, LOCK_IDLE_MS);
    },
    converged: (_ns, lag, kinds, results) => metrics.recordReaction(lag, kinds, results),
    watchState: (resource, up) => metrics.watchUp.set({ resource }, up ? 1 : 0),
  });

  // Until a full pass has produced credentials, the watches cannot react: retry it soon, not at the next
  // scheduled time (which may be far off), with backoff.
  let retryIn = 10_000;
  let retryTimer: NodeJS.Timeout | undefined;
  const untilReady = () => {
    if (reactor.model.ready || stop.signal.aborted) return;
    logger.warn({ retryInSeconds: retryIn / 1000 }, 'no full pass has succeeded yet; retrying it');
    retryTimer = setTimeout(() => scheduler.runNow(), retryIn);
    retryIn = Math.min(retryIn * 2, 300_000);
  };
  const scheduler = new Scheduler(
    config.schedule,
    config.timeZone,
    (signal) =>
      reactor.exclusive(async () => {
        try {
          const r = await executeRun(
            {
              config,
              gateway: kube.gateway,
              stores,
              logger,
              metrics,
              onDesired: (d, observed) => reactor.setDesired(d, observed),
            },
            { dryRun: false, only: g.namespace, waitForLock, signal },
          );
          return r.code;
        } catch (e) {
          if (isRotatorError(e, 'LOCK_HELD'))
            logger.info({ err: describeError(e) }, 'another run holds the lock; skipping this run');
          else logger.error({ err: describeError(e) }, 'scheduled run failed; the next one retries');
          return exitCodeForError(e);
        } finally {
          untilReady();
        }
      }),
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
            watches: reactor.watches.map((w) => ({ relists: w.relists, reconnects: w.reconnects })),
          }),
          logger,
        )
      : undefined;
  scheduler.start();
  scheduler.runNow(); // credentials for the watches, and every namespace converged from the start
  const watching = reactor.start(stop.signal);
  const onHup = () => {
    logger.info({}, 'SIGHUP: a full pass now (reads the store)');
    scheduler.runNow();
  };
  process.on('SIGHUP', onHup);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  logger.info({ signal }, 'stopping: no new runs; the current one stops at its next step');
  const force = () => process.exit(130);
  process.once('SIGTERM', force);
  process.once('SIGINT', force);
  process.off('SIGHUP', onHup);
  stop.abort();
  clearTimeout(retryTimer);
  await scheduler.stop();
  await Promise.allSettled(watching);
  await events.flush();
  if (held) await held.then(() => lock.release()).catch(() => undefined);
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await stores.close();
  await kube.clients.close();
  logger.info({}, 'stopped');
  return EXIT.ok;
}
