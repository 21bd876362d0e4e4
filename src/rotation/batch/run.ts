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
import type { DesiredSecret } from '../unit/types.ts';

export type { RunDeps, RunHooks, RunOptions, RunSummary, TargetResult } from './summary.ts';

/**
 * One rotation pass over every target: fetch once per target, decide which namespaces each covers, then
 * stream our Secrets and the ServiceAccounts of those namespaces (two cluster-wide lists, page by page)
 * and converge each namespace as soon as both lists have passed it (bounded concurrency; one namespace's
 * failure never stops the others). Namespaces whose superseded secrets wait on pods finish in a second
 * pass over one pod list taken when every ServiceAccount has been repointed — so no pod created meanwhile
 * is missed. Results are counted as they finish (RunTally); only those `opts.keep` asks for are kept.
 */
export async function runRotation(deps: RunDeps, opts: RunOptions): Promise<RunSummary> {
  const startedAt = deps.now();
  const tally = new RunTally(opts.keep);
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
  const stopped =
    prepared.some((p) => 'resolved' in p) &&
    (await rotateTargets(await scoped, deps, opts, tally, provisionalNames));
  const targets = prepared.map((p) => ('resolved' in p ? p.result : p));
  for (const t of targets) await deps.hooks?.targetDone?.(t);
  return {
    startedAt,
    finishedAt: deps.now(),
    dryRun: opts.dryRun,
    targets,
    namespaces: tally.kept(),
    tally,
    writes: tally.writes,
    interrupted: stopped || opts.signal?.aborted === true,
    provisionalNames,
  };
}

/** The ready targets' namespaces, observed and converged. True when the run stopped early. */
async function rotateTargets(
  { ready, scope }: { ready: readonly ReadyTarget[]; scope: RunScope },
  deps: RunDeps,
  opts: RunOptions,
  tally: RunTally,
  provisional: Record<string, string>,
): Promise<boolean> {
  for (const r of scope.skipped) tally.add(r);
  scope.skipped.length = 0; // counted (and kept if asked for): not held for the rest of the run
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
    return await convergeAll(scope, desired, lists, { deps, opts, tally });
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
    r.result.revision = r.resolved.version ?? `r-${d.revisionId}`;
    r.result.namespaces = scope.scopes.get(r.target.name)?.size ?? 0;
    return d;
  });
}
