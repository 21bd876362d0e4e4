import { loadConfig } from '../../config/load.ts';
import type { Config, Target } from '../../config/types.ts';
import { describeError, isRotatorError } from '../../errors.ts';
import { EXIT, type ExitCode } from '../exit-codes.ts';
import { configPath, type GlobalOptions } from '../options.ts';
import { renderTable } from '../table.ts';

/**
 * `validate [--online]`: check the config; online, also reach every store and registry, and prove each
 * issuer's managing identity can act. A target with an issuer may have nothing stored yet: its first run
 * mints the first credential.
 */
export async function validate(g: GlobalOptions, online: boolean): Promise<ExitCode> {
  const config = loadConfig(configPath(g));
  const out = process.stdout;
  out.write(
    `${config.file}: valid (${Object.keys(config.stores).length} stores, ${config.targets.length} targets, schedule "${config.schedule.text}"${config.timeZone ? ` ${config.timeZone}` : ''})\n`,
  );
  if (!online) return EXIT.ok;
  // Only now: stores, registry checks and their clients.
  const { makeLogger, makeVerifier, StoreSet } = await import('../runtime.ts');
  const { resolveCredentials } = await import('../../credentials/resolve.ts');
  const { createIssuer } = await import('../../issuers/registry.ts');
  const logger = makeLogger({ ...g, logLevel: g.logLevel ?? 'warn' });
  const stores = new StoreSet(config, logger);
  const verify = makeVerifier(config);
  const rows: string[][] = [];
  let failed = false;
  try {
    for (const name of Object.keys(config.stores)) {
      try {
        rows.push(['store', name, 'ok', await stores.get(name).check()]);
      } catch (e) {
        failed = true;
        rows.push(['store', name, 'FAILED', describeError(e)]);
      }
    }
    for (const t of config.targets) {
      if (t.issuer) {
        const store = stores.get(t.store);
        const issuer = createIssuer(t.issuer, {
          target: t.name,
          logger: logger.child({ target: t.name }),
          baseDir: config.baseDir,
          readStoreKey: async (key) => (await store.get(key)).value,
          maxAgeDays: config.policy.maxAgeDays,
        });
        const row = await checkIssuer(config, t, issuer);
        if (row[2] === 'FAILED') failed = true;
        rows.push(row);
      }
      try {
        const r = await resolveCredentials(t, stores.get(t.store), new Map());
        rows.push([
          'credentials',
          t.name,
          'ok',
          `${r.creds.length} registr${r.creds.length === 1 ? 'y' : 'ies'}${r.version ? `, ${r.version}` : ''}`,
        ]);
        for (const c of r.creds) {
          const v = await verify(c);
          const ok = v.outcome === 'accepted' || v.outcome === 'no-auth-required';
          if (!ok) failed = true;
          rows.push([
            'registry',
            `${t.name} ${v.registry}`,
            ok ? v.outcome : `FAILED (${v.outcome})`,
            v.detail,
          ]);
        }
      } catch (e) {
        if (t.issuer && isRotatorError(e, 'STORE_NOT_FOUND')) {
          rows.push(['credentials', t.name, 'none yet', 'the issuer mints the first on the next run']);
          continue;
        }
        failed = true;
        rows.push(['credentials', t.name, 'FAILED', describeError(e)]);
      }
    }
  } finally {
    await stores.close();
  }
  out.write(`${renderTable(['CHECK', 'NAME', 'RESULT', 'DETAIL'], rows)}\n`);
  return failed ? EXIT.failed : EXIT.ok;
}

/** One row for a target's issuer: its own check (the identity reaches the registry and may act), or why not. */
async function checkIssuer(
  config: Config,
  t: Target,
  issuer: { check(): Promise<string>; close(): Promise<void> },
): Promise<string[]> {
  const fleet = config.fleet;
  if (fleet?.clusterId !== undefined && fleet.clusterId !== fleet.issuingCluster)
    return [
      'issuer',
      t.name,
      'skipped',
      `cluster ${fleet.clusterId} only rolls out; ${fleet.issuingCluster} issues`,
    ];
  try {
    return ['issuer', t.name, 'ok', await issuer.check()];
  } catch (e) {
    return ['issuer', t.name, 'FAILED', describeError(e)];
  } finally {
    await issuer.close();
  }
}
