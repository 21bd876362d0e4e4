import { loadConfig } from '../../config/load.ts';
import type { Config, Target } from '../../config/types.ts';
import { ConfigError, describeError, isRotatorError } from '../../errors.ts';
import { EXIT, type ExitCode } from '../exit-codes.ts';
import { configPath, type GlobalOptions } from '../options.ts';
import { printOutput, writeDocument, type OutputFormat } from '../output.ts';
import { renderTable } from '../table.ts';

interface Check {
  check: 'store' | 'issuer' | 'credentials' | 'registry';
  name: string;
  result: string;
  detail: string;
}

/**
 * `validate [--online] [-o table|json|yaml]`: check the config; online, also reach every store and registry.
 * As a document, an invalid config is `{valid: false, problems}` on stdout (exit 2 either way).
 */
export async function validate(g: GlobalOptions, online: boolean, output: OutputFormat): Promise<ExitCode> {
  let config: Config;
  try {
    config = loadConfig(configPath(g));
  } catch (e) {
    if (!(e instanceof ConfigError) || output === 'table') throw e;
    writeDocument(output, { file: configPath(g), valid: false, problems: e.problems });
    return EXIT.usage;
  }
  const summary = {
    file: config.file,
    valid: true,
    stores: Object.keys(config.stores).length,
    targets: config.targets.length,
    schedule: config.schedule.text,
    timeZone: config.timeZone,
  };
  const line = `${config.file}: valid (${summary.stores} stores, ${summary.targets} targets, schedule "${summary.schedule}"${config.timeZone ? ` ${config.timeZone}` : ''})\n`;
  if (!online) {
    printOutput(output, summary, () => line);
    return EXIT.ok;
  }
  const checks = await checkOnline(g, config);
  printOutput(
    output,
    { ...summary, checks },
    () =>
      `${line}${renderTable(
        ['CHECK', 'NAME', 'RESULT', 'DETAIL'],
        checks.map((c) => [c.check, c.name, c.result, c.detail]),
      )}\n`,
  );
  return checks.some((c) => c.result.startsWith('FAILED')) ? EXIT.failed : EXIT.ok;
}

/**
 * Every store reached, every target's credentials read and verified at its registries, and each issuer's
 * managing identity proven able to act. A target with an issuer may have nothing stored yet: its first run
 * mints the first credential.
 */
async function checkOnline(g: GlobalOptions, config: Config): Promise<Check[]> {
  // Only now: stores, registry checks and their clients.
  const { makeLogger, makeVerifier, StoreSet } = await import('../runtime.ts');
  const { resolveCredentials } = await import('../../credentials/resolve.ts');
  const { createIssuer } = await import('../../issuers/registry.ts');
  const logger = makeLogger({ ...g, logLevel: g.logLevel ?? 'warn' });
  const stores = new StoreSet(config, logger);
  const verify = makeVerifier(config);
  const checks: Check[] = [];
  try {
    for (const name of Object.keys(config.stores)) {
      try {
        checks.push({ check: 'store', name, result: 'ok', detail: await stores.get(name).check() });
      } catch (e) {
        checks.push({ check: 'store', name, result: 'FAILED', detail: describeError(e) });
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
        checks.push(await checkIssuer(config, t, issuer));
      }
      try {
        const r = await resolveCredentials(t, stores.get(t.store), new Map());
        checks.push({
          check: 'credentials',
          name: t.name,
          result: 'ok',
          detail: `${r.creds.length} registr${r.creds.length === 1 ? 'y' : 'ies'}${r.version ? `, ${r.version}` : ''}`,
        });
        for (const c of r.creds) {
          const v = await verify(c);
          const ok = v.outcome === 'accepted' || v.outcome === 'no-auth-required';
          checks.push({
            check: 'registry',
            name: `${t.name} ${v.registry}`,
            result: ok ? v.outcome : `FAILED (${v.outcome})`,
            detail: v.detail,
          });
        }
      } catch (e) {
        if (t.issuer && isRotatorError(e, 'STORE_NOT_FOUND')) {
          checks.push({
            check: 'credentials',
            name: t.name,
            result: 'none yet',
            detail: 'the issuer mints the first on the next run',
          });
          continue;
        }
        checks.push({ check: 'credentials', name: t.name, result: 'FAILED', detail: describeError(e) });
      }
    }
  } finally {
    await stores.close();
  }
  return checks;
}

/** One row for a target's issuer: its own check (the identity reaches the registry and may act), or why not. */
async function checkIssuer(
  config: Config,
  t: Target,
  issuer: { check(): Promise<string>; close(): Promise<void> },
): Promise<Check> {
  const fleet = config.fleet;
  if (fleet?.clusterId !== undefined && fleet.clusterId !== fleet.issuingCluster)
    return {
      check: 'issuer',
      name: t.name,
      result: 'skipped',
      detail: `cluster ${fleet.clusterId} only rolls out; ${fleet.issuingCluster} issues`,
    };
  try {
    return { check: 'issuer', name: t.name, result: 'ok', detail: await issuer.check() };
  } catch (e) {
    return { check: 'issuer', name: t.name, result: 'FAILED', detail: describeError(e) };
  } finally {
    await issuer.close();
  }
}
