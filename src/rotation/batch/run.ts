import type { FetchCache } from '../../credentials/resolve.ts';
import type { SecretObject } from '../../kube/types.ts';
import { desiredSecret } from '../unit/desired.ts';
import { existingSalt, newSalt, provisionalName } from '../unit/naming.ts';
import { observeNamespaces } from './observe.ts';
import { scopeOf, type RunScope } from './scope.ts';
import { convergeAll, type RunLists } from './passes.ts';
import { prepareTarget, type ReadyTarget } from './prepare.ts';
import type { RunDeps, RunOptions, RunSummary } from './summary.ts';
import { ListCursor } from './stream.ts';
import { RunTally } from './tally.ts';
import { reportRollout, RolloutTracker, settle } from './rollout.ts';
import type { NamespaceResult } from '../unit/result.ts';
import type { DesiredSecret } from '../unit/types.ts';

export type { RunDeps, RunHooks, RunOptions, RunSummary, TargetResult } from './summary.ts';

/**
 * One rotation pass over every target: fetch once per target, decide which namespaces each covers, then
 * stream our Secrets and the ServiceAccounts of those namespaces (two cluster-wide lists, page by page)
 * and converge each namespace as soon as both lists have passed it (bounded concurrency; one namespace's
 * failure never stops the others). Namespaces whose superseded secrets wait on pods finish in a second
 * pass over one pod list taken when every ServiceAccount has been repointed — so no pod created meanwhile
 * is missed. Every namespace result goes to the run's consumers as it happens (the tally, the rollout
 * tracker, `hooks.result`) and is let go. After the settle time, each target whose rollout this run
 * completed is reported (`hooks.rolloutComplete`, rollout.ts).
 */
export async function runRotation(deps: RunDeps, opts: RunOptions): Promise<RunSummary> {
  const startedAt = deps.now();
  const tally = new RunTally();
  const rollout = new RolloutTracker();
  const report = async (r: NamespaceResult, d: DesiredSecret | undefined): Promise<void> => {
    tally.add(r);
    rollout.result(r);
    await deps.hooks?.result?.(r, d);
  };
  const cache: FetchCache = new Map();
  // The namespaces are read while the stores are fetched and the registries checked (both only read);
  // a target that fails its preparation just leaves its namespaces out of the scope. The list itself is
  // let go once the scope is taken from it (nothing keeps a promise of it for the rest of the run).
  const preparing = Promise.all(deps.config.targets.map((t) => prepareTarget(t, deps, cache)));
  const scoped = Promise.all([
    observeNamespaces(deps.gateway, deps.config.targets, deps.logger),
    preparing,
  ]).then(([namespaces, prepared]) => {
    const ready = prepared.filter((p): p is ReadyTarget => 'resolved' in p);
    return {
      ready,
      scope: scopeOf(
        ready.map((r) => r.target),
        namespaces,
        opts.only,
      ),
    };
  });
  scoped.catch(() => undefined); // awaited below unless no target is ready
  const prepared = await preparing;
  const provisionalNames: Record<string, string> = {};
  const rotated = prepared.some((p) => 'resolved' in p)
    ? await rotateTargets(await scoped, deps, opts, { report, rollout, provisional: provisionalNames })
    : { stopped: false, desired: [], scope: undefined };
  const targets = prepared.map((p) => ('resolved' in p ? p.result : p));
  for (const t of targets) await deps.hooks?.targetDone?.(t);
  const summary: RunSummary = {
    startedAt,
    finishedAt: deps.now(),
    dryRun: opts.dryRun,
    targets,
    tally,
    writes: tally.writes,
    interrupted: rotated.stopped || opts.signal?.aborted === true,
    provisionalNames,
  };
  if (opts.dryRun) return summary;
  // One wait for the nodes, then the targets whose rollout is complete.
  const settleMs = deps.config.rotation.settleSeconds * 1000;
  const sd = { now: deps.now, signal: opts.signal, logger: deps.logger };
  const last = Math.max(tally.dataChangedAt ?? 0, rollout.dataChangedAt ?? 0);
  await settle(last > 0 ? last : undefined, settleMs, sd);
  if (tally.dataChangedAt !== undefined && settleMs > 0) summary.settledAt = deps.now();
  const whole = opts.only === undefined || opts.only.length === 0;
  if (!whole || summary.interrupted || opts.signal?.aborted === true || !rotated.scope) return summary;
  for (const d of rotated.desired) {
    if (!rollout.complete(d.target) || rotated.scope.terminating.has(d.target)) continue;
    const namespaces = rotated.scope.scopes.get(d.target)?.size ?? 0;
    await reportRollout(d, namespaces, sd, deps.hooks);
  }
  return summary;
}

interface Rotating {
  report: (r: NamespaceResult, d: DesiredSecret | undefined) => Promise<void>;
  rollout: RolloutTracker;
  provisional: Record<string, string>;
}

/** The ready targets' namespaces, observed and converged: what they wanted, and whether the run stopped early. */
async function rotateTargets(
  { ready, scope }: { ready: readonly ReadyTarget[]; scope: RunScope },
  deps: RunDeps,
  opts: RunOptions,
  { report, provisional }: Rotating,
): Promise<{ stopped: boolean; desired: DesiredSecret[]; scope: RunScope }> {
  for (const r of scope.skipped) await report(r, undefined);
  scope.skipped.length = 0; // reported: not held for the rest of the run
  const names = ready.map((r) => r.target.name);
  const lists: RunLists = {
    secrets: new ListCursor(deps.gateway.chunks('secrets', scope.workList, names), 'secrets'),
    serviceAccounts: new ListCursor(
      deps.gateway.chunks('serviceaccounts', scope.workList),
      'ServiceAccounts',
    ),
  };
  try {
    const salts = await nameSalts(names, lists.secrets);
    const desired = desiredSecrets(ready, scope, salts, opts.dryRun, provisional);
    if (!opts.dryRun) deps.hooks?.desiredReady?.(desired, new Set(scope.workList));
    const stopped = await convergeAll(scope, desired, lists, { deps, opts, report });
    return { stopped, desired, scope };
  } finally {
    await Promise.all([lists.secrets.close(), lists.serviceAccounts.close()]);
  }
}

/**
 * Each target's name salt, from its Secrets among the first the list brings: the list is read on only
 * until every target has one (usually the first page does), or to its end for a target that has none yet.
 */
async function nameSalts(
  targets: readonly string[],
  secrets: ListCursor<SecretObject>,
): Promise<Map<string, string>> {
  const salts = new Map<string, string>();
  const missing = () => targets.filter((t) => !salts.has(t));
  do {
    for (const t of missing()) {
      const salt = existingSalt(t, secrets.buffered);
      if (salt !== undefined) salts.set(t, salt);
    }
  } while (missing().length > 0 && (await secrets.readMore()));
  return salts;
}

/** What each ready target wants; its name salt is the one its Secrets already carry, or a new one. */
function desiredSecrets(
  ready: readonly ReadyTarget[],
  scope: RunScope,
  salts: ReadonlyMap<string, string>,
  dryRun: boolean,
  provisional: Record<string, string>,
): DesiredSecret[] {
  return ready.map((r) => {
    const salt = salts.get(r.target.name);
    const d = desiredSecret(r.target, r.resolved, salt ?? newSalt());
    if (salt === undefined && dryRun && d.strategy === 'swap') provisional[d.name] = provisionalName(d);
    r.result.secret = d.name;
    r.result.revision = d.revision;
    r.result.namespaces = scope.scopes.get(r.target.name)?.size ?? 0;
    return d;
  });
}
