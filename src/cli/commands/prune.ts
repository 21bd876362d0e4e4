import { loadConfig } from '../../config/load.ts';
import type { Config } from '../../config/types.ts';
import { describeError, isRotatorError, RotatorError } from '../../errors.ts';
import type { K8sGateway } from '../../kube/k8s-gateway.ts';
import { TARGET_LABEL } from '../../kube/labels.ts';
import { recordingTargetGroups, targetsOfConfig } from '../../kube/lease-groups.ts';
import { planPrune, removeEntries, type PruneAction, type PrunePlan } from '../../rotation/batch/prune.ts';
import { RunLock } from '../../rotation/batch/lock.ts';
import { EXIT, type ExitCode } from '../exit-codes.ts';
import { configPath, connect, makeLogger, type GlobalOptions } from '../runtime.ts';
import { writeDocument, type OutputFormat } from '../output.ts';
import { renderTable } from '../table.ts';

interface Row {
  action: string;
  namespace: string;
  object: string;
  why: string;
}

const describe = (a: PruneAction): Row =>
  a.kind === 'delete-secret'
    ? {
        action: 'delete',
        namespace: a.namespace,
        object: `secret/${a.name}`,
        why: `target "${a.target}" is not in the config; nothing references it`,
      }
    : {
        action: 'remove entry',
        namespace: a.namespace,
        object: `serviceaccount/${a.serviceAccount}`,
        why: `${a.entry} (target "${a.target}", not in the config) no longer exists`,
      };

interface Removed {
  /** The targets to prune. */
  removed: Set<string>;
  /** Recorded on the Lease, not in the config, and not this config's: left alone unless named. */
  others: string[];
}

/**
 * The targets to prune: those this config has had (its group on the run Lease, kube/lease-groups.ts) that
 * are no longer in it, plus any named with --target. A target the Lease records for another config
 * sharing it — or from before the Lease recorded groups — is never pruned unless named.
 */
async function removedTargets(gw: K8sGateway, config: Config, named: readonly string[]): Promise<Removed> {
  const configured = new Set(config.targets.map((t) => t.name));
  const clash = named.filter((t) => configured.has(t));
  if (clash.length > 0)
    throw new RotatorError(
      'USAGE',
      `--target ${clash.join(', ')}: still in the config; remove it from the config first`,
    );
  const lease = await gw.getLease(config.lock.namespace, config.lock.name);
  const mine = targetsOfConfig(lease?.groups ?? [], configured);
  const gone = (lease?.targets ?? []).filter((t) => !configured.has(t));
  return {
    removed: new Set([...gone.filter((t) => mine.has(t)), ...named]),
    others: gone.filter((t) => !mine.has(t) && !named.includes(t)),
  };
}

/** Observes and plans; ServiceAccount entries go only once their Secret is confirmed gone (it may exist unlabelled). */
async function observeAndPlan(gw: K8sGateway, removed: Set<string>): Promise<PrunePlan> {
  const managed = (await gw.listManagedSecrets('all', [...removed])).filter((s) => s.namespace !== '');
  const orphanNs = [...new Set(managed.map((s) => s.namespace))];
  const [sas, pods] = await Promise.all([
    gw.listServiceAccounts('all'),
    orphanNs.length ? gw.listPods(orphanNs) : [],
  ]);
  const plan = planPrune(removed, managed, sas, pods);
  const gone = new Map<string, Set<string>>();
  for (const c of plan.candidates) {
    if ((await gw.getSecret(c.namespace, c.entry)) !== undefined) continue;
    const key = `${c.namespace}/${c.serviceAccount}`;
    gone.set(key, (gone.get(key) ?? new Set()).add(c.entry));
  }
  for (const [key, entries] of gone) {
    const sa = sas.find((s) => `${s.namespace}/${s.name}` === key);
    const c = plan.candidates.find((x) => `${x.namespace}/${x.serviceAccount}` === key);
    if (sa && c) plan.actions.push(removeEntries(sa, entries, c.target));
  }
  return plan;
}

/** Applies the plan under the run lock; each row says what happened. Returns the number of failures. */
async function apply(
  gw: K8sGateway,
  config: Config,
  plan: PrunePlan,
  rows: Row[],
  removed: Set<string>,
): Promise<number> {
  const logger = makeLogger({ logLevel: 'warn' });
  // No targets of its own to record; what it forgets leaves the Lease's groups too.
  const lock = new RunLock(recordingTargetGroups(gw, []), config.lock, logger);
  await lock.acquire(false);
  let failed = 0;
  try {
    for (const [i, a] of plan.actions.entries()) {
      const row = rows[i];
      try {
        if (a.kind === 'delete-secret') await gw.deleteSecret(a.namespace, a.name, a.uid, a.resourceVersion);
        else await gw.setImagePullSecrets(a.namespace, a.serviceAccount, a.resourceVersion, a.to);
      } catch (e) {
        if (!row) continue;
        const stale = isRotatorError(e, 'KUBE_CONFLICT') || isRotatorError(e, 'KUBE_NOT_FOUND');
        if (!stale) failed++;
        Object.assign(
          row,
          stale
            ? { action: 'skipped', why: 'changed since it was read; run prune again' }
            : { action: 'FAILED', why: describeError(e) },
        );
      }
    }
    // Targets nothing is left of are forgotten: the next prune does not look for them.
    const left = new Set(
      (await gw.listManagedSecrets('all', [...removed])).map((s) => s.labels[TARGET_LABEL]),
    );
    await lock.forget([...removed].filter((t) => !left.has(t)));
  } finally {
    await lock.release();
  }
  return failed;
}

/**
 * `prune [--dry-run] [--target NAME]`: Secrets of targets this install removed from its config that nothing
 * references any more, and ServiceAccount entries naming such Secrets that are already gone. Never anything
 * unlabelled, never another install's.
 */
export async function prune(
  g: GlobalOptions,
  o: { dryRun: boolean; output: OutputFormat; targets: string[] },
): Promise<ExitCode> {
  const logger = makeLogger({ ...g, logLevel: g.logLevel ?? 'warn' });
  const config = loadConfig(configPath(g));
  const kube = connect(g, logger);
  const gw = kube.gateway;
  try {
    const { removed, others } = await removedTargets(gw, config, o.targets);
    const plan =
      removed.size === 0 ? { actions: [], kept: [], candidates: [] } : await observeAndPlan(gw, removed);
    const rows: Row[] = [
      ...plan.actions.map(describe),
      ...plan.kept.map((k) => ({
        action: 'keep',
        namespace: k.namespace,
        object: `secret/${k.name}`,
        why: k.reason,
      })),
    ];
    const failed = !o.dryRun && plan.actions.length > 0 ? await apply(gw, config, plan, rows, removed) : 0;
    const othersNote =
      others.length === 0
        ? ''
        : `not pruned: ${others.join(', ')} — recorded on the lease ${config.lock.namespace}/${config.lock.name} by another config sharing it (or before the lease told configs apart); name one with --target if it was this install's\n`;
    if (o.output !== 'table')
      writeDocument(o.output, {
        dryRun: o.dryRun,
        removedTargets: [...removed],
        otherTargets: others,
        rows,
      });
    else if (removed.size === 0)
      process.stdout.write(
        `nothing to prune: every target this config managed (lease ${config.lock.namespace}/${config.lock.name}) is in the config\n${othersNote}`,
      );
    else
      process.stdout.write(
        `${renderTable(
          ['ACTION', 'NAMESPACE', 'OBJECT', 'WHY'],
          rows.map((r) => [
            o.dryRun && r.action !== 'keep' ? `would ${r.action}` : r.action,
            r.namespace,
            r.object,
            r.why,
          ]),
        )}\n${othersNote}${o.dryRun ? 'dry run: nothing written\n' : ''}`,
      );
    return failed > 0 ? EXIT.failed : EXIT.ok;
  } finally {
    await kube.clients.close();
  }
}
