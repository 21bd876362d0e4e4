import type { FetchCache } from '../credentials/resolve.ts';
import { isRotatorError } from '../errors.ts';
import type { PodObject } from '../kube/types.ts';
import { settleUntil } from './apply.ts';
import { desiredSecret } from './desired.ts';
import { existingSalt, newSalt, provisionalName } from './naming.ts';
import {
  abandonNamespace,
  convergeNamespace,
  namespaceWork,
  retentionOf,
  type NamespaceDeps,
  type NamespaceWork,
} from './namespace.ts';
import { emptyState, observeRun, type RunScope } from './observe.ts';
import { pool } from '../base/pool.ts';
import { prepareTarget, type ReadyTarget } from './prepare.ts';
import type { NamespaceResult, RunDeps, RunOptions, RunSummary } from './results.ts';
import type { DesiredSecret } from './types.ts';

export type {
  NamespaceOutcome,
  NamespaceResult,
  RunDeps,
  RunHooks,
  RunOptions,
  RunSummary,
  TargetResult,
} from './results.ts';

/**
 * One rotation pass over every target: fetch once per target, observe the cluster with a handful of
 * list calls, converge each namespace (bounded concurrency; one namespace's failure never stops the
 * others). Namespaces whose superseded secrets wait on pods finish in a second pass, after one pod list
 * taken when every ServiceAccount has been repointed — so no pod created meanwhile is missed.
 */
export async function runRotation(deps: RunDeps, opts: RunOptions): Promise<RunSummary> {
  const startedAt = deps.now();
  const cache: FetchCache = new Map();
  const prepared = await Promise.all(deps.config.targets.map((t) => prepareTarget(t, deps, cache)));
  const ready = prepared.filter((p): p is ReadyTarget => 'resolved' in p);
  const results: NamespaceResult[] = [];
  const provisionalNames: Record<string, string> = {};
  let interrupted = false;
  if (ready.length > 0) {
    const scope = await observeRun(deps.gateway, ready, opts.only, deps.logger);
    results.push(...scope.results);
    const desired = desiredSecrets(ready, scope, opts.dryRun, provisionalNames);
    if (!opts.dryRun) deps.hooks?.desiredReady?.(desired, new Set(scope.workList));

    const works = scope.workList.map((ns) =>
      namespaceWork(
        scope.states.get(ns) ?? emptyState(ns),
        desired.filter((d) => scope.scopes.get(d.target)?.has(ns) === true),
      ),
    );
    const nsDeps = namespaceDeps(deps, opts);
    interrupted = await convergeAll(works, nsDeps, deps, opts);
    for (const w of works) results.push(...w.targets.filter((t) => t.done).map((t) => t.result));
    for (const w of works)
      for (const t of w.targets.filter((x) => !x.done))
        results.push({
          ...t.result,
          outcome: 'skipped',
          secret: undefined,
          notes: ['run stopped before this namespace'],
        });
  }
  const targets = prepared.map((p) => ('resolved' in p ? p.result : p));
  for (const t of targets) await deps.hooks?.targetDone?.(t);
  results.sort((a, b) =>
    a.target === b.target ? (a.namespace < b.namespace ? -1 : 1) : a.target < b.target ? -1 : 1,
  );
  return {
    startedAt,
    finishedAt: deps.now(),
    dryRun: opts.dryRun,
    targets,
    namespaces: results,
    writes: results.reduce((n, r) => n + r.writes, 0),
    interrupted: interrupted || opts.signal?.aborted === true,
    provisionalNames,
  };
}

function namespaceDeps(deps: RunDeps, opts: RunOptions): NamespaceDeps {
  const r = deps.config.rotation;
  return {
    gateway: deps.gateway,
    now: deps.now,
    dryRun: opts.dryRun,
    signal: opts.signal,
    beforeWrite: deps.beforeFirstWrite,
    retention: retentionOf(r),
    logger: deps.logger,
    hooks: deps.hooks,
  };
}

/** What each ready target wants; its name salt is the one its Secrets already carry, or a new one. */
function desiredSecrets(
  ready: readonly ReadyTarget[],
  scope: RunScope,
  dryRun: boolean,
  provisional: Record<string, string>,
): DesiredSecret[] {
  return ready.map((r) => {
    const salt = existingSalt(r.target.name, scope.secrets);
    const d = desiredSecret(r.target, r.resolved, salt ?? newSalt());
    if (salt === undefined && dryRun && d.strategy === 'swap') provisional[d.name] = provisionalName(d);
    r.result.secret = d.name;
    r.result.revision = r.resolved.version ?? `r-${d.revisionId}`;
    r.result.namespaces = scope.scopes.get(r.target.name)?.size ?? 0;
    return d;
  });
}

/** Pass 1 over every namespace, then pass 2 over those that wait on pods. True when stopped early. */
async function convergeAll(
  works: NamespaceWork[],
  nsDeps: NamespaceDeps,
  deps: RunDeps,
  opts: RunOptions,
): Promise<boolean> {
  let done = 0;
  const waiting: NamespaceWork[] = [];
  const stopped = await pool(works, deps.config.rotation.concurrency, opts.signal, async (w) => {
    if ((await convergeNamespace(w, nsDeps)) === 'needs-pods') waiting.push(w);
    opts.onProgress?.(++done, works.length);
  });
  if (waiting.length === 0) return stopped.length > 0;
  if (!opts.dryRun)
    await settleUntil(Math.max(...waiting.map((w) => w.state.podsNotBefore ?? 0)), {
      now: deps.now,
      signal: opts.signal,
    });
  const pods = await listPods(
    deps,
    waiting.map((w) => w.state.namespace),
  );
  const late = await pool(waiting, deps.config.rotation.concurrency, opts.signal, async (w) => {
    if (pods) w.state.pods = pods.get(w.state.namespace) ?? [];
    await convergeNamespace(w, { ...nsDeps, pods: (ns) => deps.gateway.listPods([ns]) });
  });
  for (const w of late)
    await abandonNamespace(w, 'run stopped before superseded secrets were checked against pods', nsDeps);
  return stopped.length > 0 || late.length > 0;
}

/** Pods of some namespaces in one list, or undefined when that list is forbidden (read per namespace then). */
async function listPods(deps: RunDeps, namespaces: string[]): Promise<Map<string, PodObject[]> | undefined> {
  const by = new Map<string, PodObject[]>(namespaces.map((ns) => [ns, []]));
  try {
    for (const p of await deps.gateway.listPods(namespaces)) by.get(p.namespace)?.push(p);
    return by;
  } catch (e) {
    if (!isRotatorError(e, 'KUBE_FORBIDDEN')) throw e;
    return undefined;
  }
}
