import { loadConfig } from '../../config/load.ts';

import { ResultRows } from '../../rotation/batch/collect.ts';
import type { RunSummary } from '../../rotation/batch/run.ts';
import { executeRun } from '../execute.ts';
import type { ExitCode } from '../exit-codes.ts';
import { progressReporter } from '../progress.ts';
import { configPath, connect, makeLogger, StoreSet, type GlobalOptions } from '../runtime.ts';
import { keepForSummary, renderSummary } from '../summary.ts';
import { healAfterRun } from '../../healer/batch.ts';
import { renderIssuance } from '../issuance-summary.ts';
import type { TargetIssuanceReport } from '../../issuance/run.ts';

export interface RotateOptions {
  dryRun: boolean;
  /** Print the summary table: always for `plan`, on a TTY for `--rotate-now`. */
  table: 'always' | 'tty';
  verbose?: boolean | undefined;
  /** Wait for another run's lock instead of exiting 4. */
  waitForLock: boolean;
  /** `--reissue`: targets with an issuer mint a new credential now. */
  reissue?: boolean | undefined;
  /** `--force`: clusters that may not hold a revocation back. */
  force?: readonly string[] | undefined;
}

/** `--rotate-now [--dry-run]` and `plan`: one pass over every target, then exit. */
export async function rotateNow(
  g: GlobalOptions,
  o: RotateOptions,
): Promise<{ code: ExitCode; summary: RunSummary; issuance: TargetIssuanceReport[] }> {
  const logger = makeLogger(g);
  const config = loadConfig(configPath(g));
  const kube = connect(g, logger);
  const stores = new StoreSet(config, logger);
  const push = o.dryRun ? '' : config.metrics.pushgateway;
  const m = push ? await import('../../observability/metrics.ts') : undefined;
  const metrics = m ? new m.Metrics() : undefined;

  const table = o.table === 'always' || process.stdout.isTTY;
  // The table's rows: the namespaces that changed, up to TABLE_ROWS, each whole once it is done.
  const rows = table ? new ResultRows(keepForSummary(true, o.verbose ?? false)) : undefined;
  const progress = progressReporter();
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop.signal.aborted) process.exit(130);
    logger.warn(
      { signal },
      'stop requested: finishing the current step, then exiting (send again to exit at once)',
    );
    stop.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    const r = await executeRun(
      { config, gateway: kube.gateway, stores, logger, metrics },
      {
        dryRun: o.dryRun,
        reissue: o.reissue,
        force: o.force,
        only: g.namespace,
        waitForLock: o.waitForLock,
        signal: stop.signal,
        onProgress: progress.update,
        onResult: rows ? (r) => rows.add(r) : undefined,
      },
    );
    progress.end();
    await healAfterRun({
      config,
      gateway: kube.gateway,
      rest: kube.clients.rest,
      logger,
      summary: r.summary,
    });
    if (m && metrics) await m.pushMetrics(push, config.metrics.job, metrics, logger);

    if (rows) process.stdout.write(`${renderSummary(r.summary, rows.results(), o.verbose ?? false)}\n`);
    if (table && r.issuance.length > 0) process.stdout.write(`\n${renderIssuance(r.issuance, o.dryRun)}\n`);
    return r;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    await stores.close();
    await kube.clients.close();
  }
}
