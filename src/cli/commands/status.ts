import { loadConfig } from '../../config/load.ts';
import { staleUnmanaged } from '../../policy/unmanaged.ts';
import { formatDays } from '../../policy/age.ts';
import { collectStatus } from '../../rotation/batch/status.ts';
import { EXIT, type ExitCode } from '../exit-codes.ts';
import { configPath, connect, makeLogger, type GlobalOptions } from '../runtime.ts';
import { writeDocument, type OutputFormat } from '../output.ts';
import { renderTable, truncate } from '../table.ts';

/** `status [-o table|json]`: per target × namespace, what is in use, how old, who still uses older secrets. */
export async function status(g: GlobalOptions, output: OutputFormat, allSecrets: boolean): Promise<ExitCode> {
  const logger = makeLogger({ ...g, logLevel: g.logLevel ?? 'warn' });
  const config = loadConfig(configPath(g));
  const kube = connect(g, logger);
  try {
    const now = new Date();
    const rows = await collectStatus(config, kube.gateway, now, g.namespace);
    const stale = allSecrets
      ? staleUnmanaged(await kube.gateway.listPullSecretsEverywhere(), config.policy.maxAgeDays, now)
      : undefined;
    if (output !== 'table') {
      writeDocument(output, {
        policy: config.policy,
        namespaces: rows,
        ...(stale ? { unmanagedOlderThanMaxAge: stale } : {}),
      });
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
      if (rows.some((r) => r.serviceAccountsMissingIt.length > 0))
        process.stdout.write(
          '(!sa = selected ServiceAccount that does not reference the current secret yet)\n',
        );
    }
    return rows.some((r) => r.age.state === 'violation') || (stale?.length ?? 0) > 0 ? EXIT.policy : EXIT.ok;
  } finally {
    await kube.clients.close();
  }
}
