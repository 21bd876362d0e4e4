import type { Logger } from '../base/logger.ts';
import type { Config } from '../config/types.ts';
import type { KubeGateway } from '../kube/gateway.ts';
import type { KubeRest } from '../kube/rest.ts';
import { observeNamespaces } from '../rotation/batch/observe.ts';
import type { RunSummary } from '../rotation/batch/summary.ts';
import { selectNamespaces } from '../rotation/batch/scope.ts';
import { Healer, type HealReport } from './healer.ts';
import { healerCluster } from './kube.ts';

/**
 * `rotation.healPods` (default off): after a `--rotate-now` run, the pods of the target namespaces that were admitted without our secret and now
 * could have it are deleted for their controllers to recreate (healer.ts). For CronJob users, whose
 * namespaces otherwise wait for the next run and whose stuck pods wait for a human.
 */
export async function healAfterRun(
  d: { config: Config; gateway: KubeGateway; rest: KubeRest; logger: Logger; summary: RunSummary },
  enabled = d.config.rotation.healPods,
): Promise<HealReport | undefined> {
  if (!enabled || d.summary.dryRun) return undefined;
  const ready = new Map(
    d.summary.targets.flatMap((t) => {
      const target = d.config.targets.find((x) => x.name === t.target);
      if (t.outcome !== 'ok' || t.secret === undefined || !target) return [];
      const serviceAccounts = target.serviceAccounts.includes('*') ? ('*' as const) : target.serviceAccounts;
      return [[t.target, { name: t.secret, serviceAccounts }] as const];
    }),
  );
  if (ready.size === 0) return undefined;
  const log = d.logger.child({ mode: 'heal' });
  try {
    return await heal(d, ready, log);
  } catch (e) {
    // Healing is a courtesy after the rollout, which stands: its failure does not fail the run.
    log.warn({ err: (e as Error).message }, 'pods not healed after the run');
    return undefined;
  }
}

async function heal(
  d: { config: Config; gateway: KubeGateway; rest: KubeRest },
  ready: ReadonlyMap<string, { name: string; serviceAccounts: readonly string[] | '*' }>,
  log: Logger,
): Promise<HealReport> {
  const all = await observeNamespaces(d.gateway, d.config.targets, log);
  const known = new Map(all.map((n) => [n.name, n]));
  const namespaces = [
    ...new Set(
      d.config.targets.filter((t) => ready.has(t.name)).flatMap((t) => selectNamespaces(t, all).namespaces),
    ),
  ];
  const healer = new Healer(
    healerCluster({
      gateway: d.gateway,
      caller: [d.rest, log],
      targets: d.config.targets,
      names: () => ready,
      knownNamespace: (n) => known.get(n),
    }),
    log,
  );
  const report = await healer.healNamespaces(namespaces);
  log.info(
    { namespaces: namespaces.length, ...report, deleted: report.deleted.length },
    'pods healed after the run',
  );
  return report;
}
