import type { Config } from '../config/types.ts';
import type { K8sGateway } from '../kube/k8s-gateway.ts';
import { EventRecorder } from '../observability/events.ts';
import type { Logger } from '../base/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { runRotation, type RunSummary } from '../rotation/batch/run.ts';
import type { NamespaceResult } from '../rotation/unit/result.ts';
import type { RolloutComplete } from '../rotation/batch/rollout.ts';
import type { DesiredSecret } from '../rotation/unit/types.ts';
import { describeError, isRotatorError, RotatorError } from '../errors.ts';
import { RunLock } from '../rotation/batch/lock.ts';
import { exitCodeForRun, EXIT, type ExitCode } from './exit-codes.ts';
import { makeVerifier, type StoreSet } from './runtime.ts';
import { summaryFields } from './summary.ts';
import { issuanceFields } from './issuance-summary.ts';
import { IssuanceRun, type TargetIssuanceReport } from '../issuance/run.ts';
import { clusterIdOf } from '../fleet/cluster.ts';

export interface ExecuteDeps {
  config: Config;
  gateway: K8sGateway;
  stores: StoreSet;
  logger: Logger;
  /** Receives what each target wants after a full pass (scheduler mode reacts to events with it). */
  onDesired?: ((d: readonly DesiredSecret[], observed: ReadonlySet<string>) => void) | undefined;
  /** A target's rollout is complete (RunHooks.rolloutComplete): where an issuer revokes the old credential. */
  onRolloutComplete?: ((e: RolloutComplete) => Promise<void> | void) | undefined;

  /** Absent when nothing reads metrics (a `--rotate-now` without a Pushgateway): prom-client is not loaded. */
  metrics?: Metrics | undefined;
}

export interface ExecuteOptions {
  dryRun: boolean;
  /** `--reissue`: targets with an issuer mint a new credential now, whatever its age. */
  reissue?: boolean | undefined;
  /** `--force`: clusters that may not hold a revocation back (named one by one). */
  force?: readonly string[] | undefined;
  only?: readonly string[] | undefined;
  waitForLock: boolean;
  signal: AbortSignal;
  onProgress?: ((done: number, total: number) => void) | undefined;
  /** Every namespace result as it happens (RunHooks.result), for a consumer of its own: the table's rows. */
  onResult?: ((r: NamespaceResult) => void) | undefined;
}

const resultOf = (
  code: ExitCode,
  s: RunSummary,
): 'success' | 'failed' | 'policy_violation' | 'interrupted' =>
  s.interrupted
    ? 'interrupted'
    : code === EXIT.ok
      ? 'success'
      : code === EXIT.policy
        ? 'policy_violation'
        : 'failed';

/**
 * One run with everything around it: the Lease lock (not for dry runs), Events, metrics and the
 * `run summary` log line. Shared by `--rotate-now`, `plan` and every scheduler tick.
 */
export async function executeRun(
  d: ExecuteDeps,
  o: ExecuteOptions,
): Promise<{ code: ExitCode; summary: RunSummary; issuance: TargetIssuanceReport[] }> {
  const { config, gateway, logger } = d;
  const stop = new AbortController();
  const relay = () => stop.abort();
  o.signal.addEventListener('abort', relay, { once: true });
  const events = new EventRecorder(
    o.dryRun || !config.rotation.emitEvents ? undefined : gateway,
    { namespace: config.lock.namespace, leaseName: config.lock.name },
    logger,
  );
  const lock = o.dryRun
    ? undefined
    : new RunLock(gateway, { ...config.lock, targets: config.targets.map((t) => t.name) }, logger);
  let locked: Promise<void> | undefined;
  // The lock is taken just before the first write: a run with nothing to do writes nothing at all.
  const beforeFirstWrite = lock
    ? () =>
        (locked ??= (async () => {
          try {
            await lock.acquire(o.waitForLock, o.signal);
          } catch (e) {
            if (isRotatorError(e, 'LOCK_HELD')) throw e;
            throw new RotatorError(
              'LOCK_FAILED',
              `cannot take the run lock (${lock.where}): ${describeError(e)}`,
              { cause: e },
            );
          }
          lock.startRenewing(() => stop.abort());
        })())
    : undefined;
  const verify = makeVerifier(config);
  const issuance = new IssuanceRun(
    {
      config,
      stores: d.stores,
      logger,
      now: () => new Date(),
      verify,
      clusterId: () => clusterIdOf(gateway),
      signal: stop.signal,
      onEvent: (e) => events.issuance(e),
    },
    { dryRun: o.dryRun, reissue: o.reissue === true, force: o.force ?? [], beforeWrite: beforeFirstWrite },
  );
  try {
    // Credentials minted at the source first: a new one is in the store before the rotation reads it.
    if (!issuance.empty) await issuance.before();
    // A dry run leaves out what it would issue first: nothing is stored to roll out yet (the issuance
    // summary says what would be issued).
    const unissued = issuance.firstPending;
    const summary = await runRotation(
      {
        config:
          unissued.size === 0
            ? config
            : { ...config, targets: config.targets.filter((t) => !unissued.has(t.name)) },
        gateway,
        logger,
        openStore: (n) => d.stores.get(n),
        verify,
        now: () => new Date(),
        hooks: {
          result: (r, desired) => {
            events.result(r, desired);
            o.onResult?.(r);
          },
          targetDone: (t) => events.targetDone(t),
          desiredReady: d.onDesired,
          rolloutComplete: async (e) => {
            await issuance.rolloutComplete(e.target, e.revision);
            await d.onRolloutComplete?.(e);
          },
        },
        beforeFirstWrite,
      },
      {
        dryRun: o.dryRun,
        only: o.only,
        signal: stop.signal,
        onProgress: o.onProgress,
      },
    );
    const reports = issuance.reports;
    const code = exitCodeForRun(summary, issuance.failed);
    if (!o.dryRun) {
      d.metrics?.record(summary, resultOf(code, summary));
      d.metrics?.recordIssuance(reports);
    }

    await events.flush();
    logger.info(
      {
        ...summaryFields(summary),
        ...(reports.length > 0 ? { issuance: issuanceFields(reports) } : {}),
        exitCode: code,
        events: events.sent,
        requests: { ...gateway.counts },
      },
      'run summary',
    );
    return { code, summary, issuance: reports };
  } finally {
    o.signal.removeEventListener('abort', relay);
    if (locked) await lock?.release();
    await events.flush();
    await issuance.close();
  }
}
