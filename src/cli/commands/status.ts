import { loadConfig } from '../../config/load.ts';
import { staleUnmanaged } from '../../policy/unmanaged.ts';
import { formatDays } from '../../policy/age.ts';
import { collectStatus } from '../../rotation/batch/status.ts';
import { EXIT, type ExitCode } from '../exit-codes.ts';
import {
  configPath,
  connect,
  makeLogger,
  makeVerifier,
  StoreSet,
  type GlobalOptions,
  type Kube,
} from '../runtime.ts';
import type { Config } from '../../config/types.ts';
import type { Logger } from '../../base/logger.ts';
import { RotatorError } from '../../errors.ts';
import { clusterIdOf } from '../../fleet/cluster.ts';
import { IssuanceRun, type TargetIssuanceReport } from '../../issuance/run.ts';
import { renderIssuance } from '../issuance-summary.ts';
import { renderTable, truncate } from '../table.ts';
import { span } from '../../base/span.ts';

/** `status [-o table|json]`: per target × namespace, what is in use, how old, who still uses older secrets. */
export async function status(
  g: GlobalOptions,
  output: 'table' | 'json',
  allSecrets: boolean,
  fleet = false,
): Promise<ExitCode> {
  const logger = makeLogger({ ...g, logLevel: g.logLevel ?? 'warn' });
  const config = loadConfig(configPath(g));
  const kube = connect(g, logger);
  const stores = new StoreSet(config, logger);
  try {
    const now = new Date();
    const [rows, issuance] = await Promise.all([
      collectStatus(config, kube.gateway, now, g.namespace),
      issuanceStatus(config, stores, kube, logger, fleet),
    ]);
    const stale = allSecrets
      ? staleUnmanaged(await kube.gateway.listPullSecretsEverywhere(), config.policy.maxAgeDays, now)
      : undefined;
    if (output === 'json') {
      process.stdout.write(
        `${JSON.stringify({ policy: config.policy, namespaces: rows, ...(issuance.length > 0 ? { issuance } : {}), ...(stale ? { unmanagedOlderThanMaxAge: stale } : {}) }, null, 2)}\n`,
      );
    } else {
      process.stdout.write(
        `${renderTable(
          [
            'TARGET',
            'NAMESPACE',
            'SECRET',
            'REVISION',
            'AGE',
            'DAYS LEFT',
            'POLICY',
            'SERVICEACCOUNTS',
            'OLDER',
            'PODS ON OLDER',
            'STATE',
          ],
          rows.map((r) => [
            r.target,
            r.namespace,
            r.secret ?? '-',
            truncate(r.revision ?? '-', 32),
            formatDays(r.age.ageDays),
            r.age.daysLeft === undefined ? '-' : String(Math.floor(r.age.daysLeft)),
            r.age.state,
            [...r.serviceAccounts, ...r.serviceAccountsMissingIt.map((s) => `!${s}`)].join(',') || '-',
            String(r.superseded.length),
            String(r.podsOnOlder.length),
            r.note ? `${r.state} (${r.note})` : r.state,
          ]),
        )}\n`,
      );
      if (stale) {
        process.stdout.write(
          stale.length === 0
            ? `\nno unmanaged pull secrets older than ${config.policy.maxAgeDays} days\n`
            : `\nUNMANAGED PULL SECRETS OLDER THAN ${config.policy.maxAgeDays} DAYS (reported, never touched)\n${renderTable(
                ['NAMESPACE', 'SECRET', 'AGE', 'REGISTRIES'],
                stale.map((s) => [s.namespace, s.name, `${s.ageDays}d`, s.registries.join(',') || '-']),
              )}\n`,
        );
      }
      if (issuance.length > 0) process.stdout.write(`\n${renderIssuance(issuance, true, now)}\n`);
      if (fleet) process.stdout.write(`\n${renderFleet(issuance, now)}\n`);
      if (rows.some((r) => r.serviceAccountsMissingIt.length > 0))
        process.stdout.write(
          '(!sa = selected ServiceAccount that does not reference the current secret yet)\n',
        );
    }
    return rows.some((r) => r.age.state === 'violation') || (stale?.length ?? 0) > 0 ? EXIT.policy : EXIT.ok;
  } finally {
    await stores.close();
    await kube.clients.close();
  }
}

/** Targets with an issuer: what the store and the registry hold now, what is due, what waits (reads only). */
async function issuanceStatus(
  config: Config,
  stores: StoreSet,
  kube: Kube,
  logger: Logger,
  fleet: boolean,
): Promise<TargetIssuanceReport[]> {
  if (!config.targets.some((t) => t.issuer)) {
    if (fleet) throw new RotatorError('USAGE', 'status --fleet: no target of the config names an issuer');
    return [];
  }
  const run = new IssuanceRun(
    {
      config,
      stores,
      logger,
      now: () => new Date(),
      verify: makeVerifier(config),
      clusterId: () => clusterIdOf(kube.gateway),
    },
    { dryRun: true, reissue: false, force: [] },
  );
  try {
    await run.before();
    if (fleet) await run.inspectFleet();
    return run.reports;
  } finally {
    await run.close();
  }
}

/** `status --fleet`: one row per cluster and target. */
function renderFleet(reports: readonly TargetIssuanceReport[], now: Date): string {
  const rows = reports.flatMap((r) =>
    (r.fleet?.clusters ?? []).map((c) => [
      r.target,
      c.cluster === r.fleet?.cluster ? `${c.cluster} (this one)` : c.cluster,
      c.revision ?? '-',
      c.ackedAt ? `${span(now.getTime() - c.ackedAt.getTime())} ago` : '-',
      c.state,
      c.behindMs === undefined ? '-' : span(c.behindMs),
    ]),
  );
  const blocked = reports.flatMap((r) =>
    r.fleet?.blockedBy ? [`target ${r.target}: revocation waits for ${r.fleet.blockedBy}`] : [],
  );
  const errors = reports.flatMap((r) =>
    r.fleet?.error ? [`target ${r.target}: ${r.fleet.error.message}`] : [],
  );
  return [
    renderTable(['TARGET', 'CLUSTER', 'ROLLED OUT', 'ACKNOWLEDGED', 'STATE', 'BEHIND FOR'], rows),
    ...blocked,
    ...errors,
  ].join('\n');
}
