import { loadConfig } from '../../config/load.ts';
import { runRotation, type RunSummary } from '../../rotation/run.ts';
import { exitCodeForRun, type ExitCode } from '../exit-codes.ts';
import { progressReporter } from '../progress.ts';
import { configPath, connect, makeLogger, makeVerifier, StoreSet, type GlobalOptions } from '../runtime.ts';
import { renderSummary, summaryFields } from '../summary.ts';

export interface RotateOptions {
  dryRun: boolean;
  /** Print the summary table: always for `plan`, on a TTY for `--rotate-now`. */
  table: 'always' | 'tty';
  verbose?: boolean;
  /** Wait for another run's lock instead of exiting 4. */
  waitForLock: boolean;
}

/** `--rotate-now [--dry-run]` and `plan`: one pass over every target, then exit. */
export async function rotateNow(
  g: GlobalOptions,
  o: RotateOptions,
): Promise<{ code: ExitCode; summary: RunSummary }> {
  const logger = makeLogger(g);
  const config = loadConfig(configPath(g));
  const kube = connect(g, logger);
  const stores = new StoreSet(config, logger);
  const progress = progressReporter();
  try {
    const summary = await runRotation(
      {
        config,
        gateway: kube.gateway,
        logger,
        openStore: (n) => stores.get(n),
        verify: makeVerifier(config),
        now: () => new Date(),
      },
      { dryRun: o.dryRun, only: g.namespace, onProgress: progress.update },
    );
    progress.end();
    const code = exitCodeForRun(summary);
    logger.info({ ...summaryFields(summary), exitCode: code, requests: kube.gateway.counts }, 'run summary');
    if (o.table === 'always' || process.stdout.isTTY)
      process.stdout.write(`${renderSummary(summary, o.verbose ?? false)}\n`);
    return { code, summary };
  } finally {
    await stores.close();
    await kube.clients.close();
  }
}
