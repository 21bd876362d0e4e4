import { loadConfig } from '../../config/load.ts';
import { issuedWriteOf } from '../../credentials/source.ts';
import { clusterIdOf } from '../../fleet/cluster.ts';
import { FleetLedger } from '../../fleet/ledger.ts';
import { RotatorError } from '../../errors.ts';
import { EXIT, type ExitCode } from '../exit-codes.ts';
import { configPath, connect, makeLogger, StoreSet, type GlobalOptions } from '../runtime.ts';

/** `fleet id`: this cluster's id in the ledgers. */
export async function fleetId(g: GlobalOptions): Promise<ExitCode> {
  const logger = makeLogger({ ...g, logLevel: g.logLevel ?? 'warn' });
  const config = loadConfig(configPath(g));
  if (config.fleet?.clusterId) {
    process.stdout.write(`${config.fleet.clusterId}\n`);
    return EXIT.ok;
  }
  const kube = connect(g, logger);
  try {
    process.stdout.write(`${await clusterIdOf(kube.gateway)}\n`);
    return EXIT.ok;
  } finally {
    await kube.clients.close();
  }
}

/** `fleet forget <cluster>`: in every fleet ledger of the config, the cluster no longer holds revocations back. */
export async function fleetForget(g: GlobalOptions, cluster: string): Promise<ExitCode> {
  const logger = makeLogger(g);
  const config = loadConfig(configPath(g));
  if (!config.fleet) throw new RotatorError('USAGE', 'fleet forget: the config has no `fleet` section');
  const stores = new StoreSet(config, logger);
  try {
    let forgotten = 0;
    for (const t of config.targets) {
      const where = issuedWriteOf(t.credentials);
      if (!t.issuer || 'error' in where) continue;
      const ledger = new FleetLedger(stores.get(t.store), `${where.key}-fleet`);
      await ledger.forget(cluster);
      logger.info({ target: t.name, cluster }, 'cluster forgotten in the fleet ledger');
      process.stdout.write(`target ${t.name}: cluster ${cluster} forgotten (${ledger.where})\n`);
      forgotten++;
    }
    if (forgotten === 0)
      throw new RotatorError('USAGE', 'fleet forget: no target of the config names an issuer');
    return EXIT.ok;
  } finally {
    await stores.close();
  }
}
