import type { Config } from '../../config/types.ts';
import { loadConfig } from '../../config/load.ts';
import { describeError, isRotatorError } from '../../errors.ts';
import type { Logger } from '../../base/logger.ts';
import { backoffMs, type Backoff } from '../../base/retry.ts';
import { EventRecorder } from '../../observability/events.ts';
import { Metrics } from '../../observability/metrics.ts';
import { startHttpServer } from '../../observability/server.ts';
import { Bursts } from '../../scheduler/bursts.ts';
import { RunLock } from '../../rotation/batch/lock.ts';
import { recordingTargetGroups } from '../../kube/lease-groups.ts';
import { Scheduler } from '../../scheduler/loop.ts';
import { Reactor } from '../../scheduler/reactor.ts';
import { perNamespaceScope } from '../../scheduler/watches.ts';
import { executeRun } from '../execute.ts';
import { instrument } from '../instrument.ts';
import { EXIT, exitCodeForError, type ExitCode } from '../exit-codes.ts';
import { configPath, connect, makeLogger, StoreSet, type GlobalOptions, type Kube } from '../runtime.ts';
import { startAdmission, type Admission } from '../../admission/start.ts';
import { schedulerHealer, type SchedulerHealer } from '../../healer/scheduler.ts';
import type { DesiredSecret } from '../../rotation/unit/types.ts';

/** Until a full pass has succeeded, it is retried after 10 s, doubling up to 5 minutes. */
const FIRST_PASS_RETRY: Backoff = { baseMs: 10_000, maxMs: 300_000 };

interface Parts {
  g: GlobalOptions;
  config: Config;
  logger: Logger;
  kube: Kube;
  metrics: Metrics;
  stop: AbortController;
  admission?: Admission | undefined;
  healer?: SchedulerHealer | undefined;
  /** The last full pass's desired secrets (what the healer checks pods against). */
  desired: readonly DesiredSecret[];
}

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
  const p: Parts = {
    g,
    config,
    logger,
    kube: connect(g, logger),
    metrics: new Metrics(true),
    stop: new AbortController(),
    desired: [],
  };
  const stores = new StoreSet(config, logger);
  instrument(p.metrics, p.kube.gateway, stores); // watches and reactions too, not only full passes
  const { reactor, bursts } = makeReactor(p);
  p.admission = await startAdmission({
    flags: g,
    config,
    gateway: p.kube.gateway,
    rest: p.kube.clients.rest,
    logger,
    beforeWrite: () => bursts.beforeWrite(),
    knownNamespace: (n) => reactor.model.namespaces.get(n),
    signal: p.stop.signal,
  });
  // The pod watch: the healer's, and the reactor's check of the names new pods list (with admission,
  // whose answer can name the secret a rotation is replacing).
  if (config.rotation.healPods || p.admission)
    p.healer = schedulerHealer({
      heal: config.rotation.healPods,
      podSeen: (type, pod) => reactor.podSeen(type, pod),
      config,
      gateway: p.kube.gateway,
      rest: p.kube.clients.rest,
      logger,
      desired: () => p.desired,
      knownNamespace: (n) => reactor.model.namespaces.get(n),
      namespaces: g.namespace ?? perNamespaceScope(config),
      watchState: (up) => p.metrics.watchUp.set({ resource: 'pods' }, up ? 1 : 0),
    });
  let failedPasses = 0;
  let retryTimer: NodeJS.Timeout | undefined;
  const scheduler = new Scheduler(
    config.schedule,
    config.timeZone,
    (signal) =>
      reactor.exclusive(async () => {
        try {
          await bursts.end(); // the reactor's lock, held for 2 s after its last write, is the pass's to take
          return await fullPass(p, stores, reactor, { waitForLock, signal });
        } finally {
          // Until a pass has produced credentials the watches cannot react: retry soon, not at the next slot.
          if (!reactor.model.ready && !p.stop.signal.aborted) {
            const retryIn = backoffMs(++failedPasses, FIRST_PASS_RETRY);
            logger.warn({ retryInSeconds: retryIn / 1000 }, 'no full pass has succeeded yet; retrying it');
            retryTimer = setTimeout(() => scheduler.runNow(), retryIn);
          }
        }
      }),
    logger,
  );
  const server = await serve(p, scheduler, reactor);
  scheduler.start();
  scheduler.runNow(); // credentials for the watches, and every namespace converged from the start
  const watching = reactor.start(p.stop.signal);
  if (p.healer) watching.push(...p.healer.start(p.stop.signal));
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
  p.stop.abort();
  clearTimeout(retryTimer);
  await scheduler.stop();
  await Promise.allSettled(watching);
  const inFlight = await reactor.drain();
  if (inFlight > 0) logger.info({ namespaces: inFlight }, 'finished the convergences in flight');
  await p.healer?.drain();

  await p.admission?.close();
  await bursts.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await stores.close();
  await p.kube.clients.close();
  logger.info({}, 'stopped');
  return EXIT.ok;
}

/** The event side: the reactor, writing in bursts under the run lock shared with full passes. */
function makeReactor(p: Parts): { reactor: Reactor; bursts: Bursts } {
  const { config, kube, logger, metrics } = p;
  const targets = config.targets.map((t) => t.name);
  const lock = new RunLock(recordingTargetGroups(kube.gateway, targets), { ...config.lock, targets }, logger);
  const bursts = new Bursts(
    lock,
    () =>
      new EventRecorder(
        config.rotation.emitEvents ? kube.gateway : undefined,
        { namespace: config.lock.namespace, leaseName: config.lock.name },
        logger,
      ),
    p.stop.signal,
  );
  const reactor = new Reactor({
    config,
    gateway: kube.gateway,
    logger: logger.child({ mode: 'watch' }),
    hooks: { result: (r, d) => bursts.recorder.result(r, d) },
    only: p.g.namespace,
    beforeWrite: () => bursts.beforeWrite(),
    idle: async () => bursts.idle(),
    converged: (ns, lag, kinds, results) => {
      metrics.recordReaction(lag, kinds, results);
      void p.healer?.converged(ns, results);
    },
    watchState: (resource, up) => metrics.watchUp.set({ resource }, up ? 1 : 0),
  });
  return { reactor, bursts };
}

/** One full pass (reads the store): its exit code; what it wants is handed to the reactor. */
async function fullPass(
  p: Parts,
  stores: StoreSet,
  reactor: Reactor,
  opts: { waitForLock: boolean; signal: AbortSignal },
): Promise<ExitCode> {
  try {
    const r = await executeRun(
      {
        config: p.config,
        gateway: p.kube.gateway,
        stores,
        logger: p.logger,
        metrics: p.metrics,
        onDesired: (d, observed) => {
          p.desired = d;
          reactor.setDesired(d, observed);
          p.admission?.setDesired(d);
        },
      },
      {
        dryRun: false,
        only: p.g.namespace,
        ...opts,
        // A namespace the pass pointed at our secret: its pods that failed before are healed now.
        onResult: (r) => void p.healer?.converged(r.namespace, [r]),
      },
    );
    return r.code;
  } catch (e) {
    if (isRotatorError(e, 'LOCK_HELD'))
      p.logger.info({ err: describeError(e) }, 'another run holds the lock; skipping this run');
    else p.logger.error({ err: describeError(e) }, 'scheduled run failed; the next one retries');
    return exitCodeForError(e);
  }
}

function serve(p: Parts, scheduler: Scheduler, reactor: Reactor) {
  const { config } = p;
  if (config.metrics.port <= 0) return Promise.resolve(undefined);
  return startHttpServer(
    config.metrics.port,
    p.metrics,
    () => {
      const stuck = reactor.stuckWatches();
      return {
        status: stuck.length > 0 ? 'unhealthy' : 'ok',
        ...(stuck.length > 0 ? { stuckWatches: stuck } : {}),
        schedule: config.schedule.text,
        timeZone: config.timeZone ?? 'local',
        runs: scheduler.runs,
        skippedTicks: scheduler.skipped,
        lastRun: scheduler.last,
        nextRun: scheduler.nextRun()?.toISOString(),
        watches: reactor.watches.map((w) => ({ relists: w.relists, reconnects: w.reconnects })),
      };
    },
    p.logger,
  );
}
