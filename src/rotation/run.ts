import type { FetchCache } from '../credentials/resolve.ts';
import { isRotatorError } from '../errors.ts';
import { TARGET_LABEL } from '../kube/labels.ts';
import type { PodObject } from '../kube/types.ts';
import { converge, type ActionRecord, type ApplyDeps } from './apply.ts';
import { desiredSecret } from './desired.ts';
import { existingSalt, newSalt } from './naming.ts';
import { emptyState, groupState, observeNamespaces, observeState } from './observe.ts';
import { pool } from './pool.ts';
import { errorInfo, prepareTarget, type ReadyTarget } from './prepare.ts';
import type { NamespaceOutcome, NamespaceResult, RunDeps, RunOptions, RunSummary } from './results.ts';
import { selectNamespaces, type Skipped } from './targets.ts';
import type { DesiredSecret, RetentionPolicy } from './types.ts';

export type {
  NamespaceOutcome,
  NamespaceResult,
  RunDeps,
  RunHooks,
  RunOptions,
  RunSummary,
  TargetResult,
} from './results.ts';

function outcomeOf(records: readonly ActionRecord[], dryRun: boolean, hadOlder: boolean): NamespaceOutcome {
  const ok = records.filter((r) => r.result === 'ok' && r.action.kind !== 'load-pods');
  if (ok.length === 0) return 'unchanged';
  if (dryRun) return 'planned';
  if (ok.some((r) => r.action.kind === 'create')) return hadOlder ? 'rotated' : 'provisioned';
  if (ok.some((r) => r.action.kind === 'update-data' && r.action.why === 'in-place')) return 'rotated';
  return 'updated';
}

/**
 * One rotation pass over every target: fetch once per target, observe the cluster with a handful of
 * list calls, then converge each namespace (bounded concurrency; one namespace's failure never stops
 * the others).
 */
export async function runRotation(deps: RunDeps, opts: RunOptions): Promise<RunSummary> {
  const { config, gateway, logger } = deps;
  const startedAt = deps.now();
  const retention: RetentionPolicy = {
    retainSupersededMs: config.rotation.retainSupersededMs,
    waitForPods: config.rotation.waitForPods,
    refreshSuperseded: config.rotation.refreshSuperseded,
  };
  const cache: FetchCache = new Map();
  const prepared = await Promise.all(config.targets.map((t) => prepareTarget(t, deps, cache)));
  const ready = prepared.filter((p): p is ReadyTarget => 'resolved' in p);
  const targetResults = prepared.map((p) => ('resolved' in p ? p.result : p));

  const nsResults: NamespaceResult[] = [];
  const provisionalNames: Record<string, string> = {};
  const only = opts.only && opts.only.length > 0 ? new Set(opts.only) : undefined;
  let interrupted = false;
  if (ready.length > 0) {
    const namespaces = await observeNamespaces(
      gateway,
      ready.map((r) => r.target),
      logger,
    );
    const scopes = new Map(ready.map((r) => [r.target.name, selectNamespaces(r.target, namespaces, only)]));
    const inScope = [...new Set([...scopes.values()].flatMap((s) => s.namespaces))].sort();
    for (const r of ready) {
      for (const sk of scopes.get(r.target.name)?.skipped ?? [])
        nsResults.push(skippedResult(r.target.name, sk));
    }
    const { secrets, sas, unreadable } = await observeState(
      gateway,
      inScope,
      ready.map((r) => r.target.name),
    );
    for (const [ns, e] of unreadable) {
      for (const r of ready) {
        if (!scopes.get(r.target.name)?.namespaces.includes(ns)) continue;
        nsResults.push({
          ...skippedResult(r.target.name, { namespace: ns, reason: '' }),
          outcome: 'failed',
          notes: [],
          error: errorInfo(e),
        });
        logger.error(
          { target: r.target.name, namespace: ns, code: e.code, err: e.message },
          'namespace failed',
        );
      }
    }
    const workList = inScope.filter((ns) => !unreadable.has(ns));
    const byNs = groupState(workList, secrets, sas);

    const desired = new Map<string, DesiredSecret>();
    for (const r of ready) {
      const existing = existingSalt(r.target.name, secrets);
      const d = desiredSecret(r.target, r.resolved, existing ?? newSalt());
      desired.set(r.target.name, d);
      if (existing === undefined && opts.dryRun && d.strategy === 'swap') {
        provisionalNames[d.name] = `${r.target.secretName}-${'?'.repeat(d.revisionId.length)}`;
      }
      r.result.secret = d.name;
      r.result.revision = r.resolved.version ?? `r-${d.revisionId}`;
      r.result.namespaces = scopes.get(r.target.name)?.namespaces.length ?? 0;
    }

    // Pass 1 converges every namespace up to the point where a deletion waits for the pod list; the
    // pods of all those namespaces are then listed at once (after all repoints, so the list is fresh) and
    // pass 2 finishes them. A few list calls per run instead of one per namespace.
    const pending = new Map<string, { result: NamespaceResult; d: DesiredSecret; hadOlder: boolean }[]>();
    const finish = async (result: NamespaceResult, d: DesiredSecret) => {
      if (result.outcome !== 'unchanged' && result.outcome !== 'failed') {
        logger.info(
          {
            target: d.target,
            namespace: result.namespace,
            outcome: result.outcome,
            secret: d.name,
            actions: result.actions.map((a) => a.action.kind),
            kept: result.kept.length,
          },
          'namespace converged',
        );
      }
      nsResults.push(result);
      await deps.hooks?.namespaceDone?.(result, d);
    };
    const step = async (
      ns: string,
      d: DesiredSecret,
      result: NamespaceResult,
      hadOlder: boolean,
      loadPods: ApplyDeps['loadPods'],
    ): Promise<boolean> => {
      const state = byNs.get(ns) ?? emptyState(ns);
      try {
        const c = await converge(d, retention, state, {
          gateway,
          now: deps.now,
          dryRun: opts.dryRun,
          loadPods,
          signal: opts.signal,
          beforeWrite: deps.beforeFirstWrite,
        });
        result.actions.push(...c.records);
        Object.assign(result, { kept: c.kept, notes: c.notes, writes: result.writes + c.writes });
        result.outcome = outcomeOf(result.actions, opts.dryRun, hadOlder);
        return c.deferred;
      } catch (e) {
        // Another run is rotating, or the lock cannot be taken at all: this run stops altogether.
        if (isRotatorError(e, 'LOCK_HELD') || isRotatorError(e, 'LOCK_FAILED')) throw e;
        result.outcome = 'failed';
        result.error = errorInfo(e);
        logger.error(
          { target: d.target, namespace: ns, code: result.error.code, err: result.error.message },
          'namespace failed',
        );
        return false;
      }
    };

    let done = 0;
    const total = workList.length;
    const stopped = await pool(workList, config.rotation.concurrency, opts.signal, async (ns) => {
      const state = byNs.get(ns) ?? emptyState(ns);
      for (const r of ready) {
        const d = desired.get(r.target.name);
        if (!d || !scopes.get(r.target.name)?.namespaces.includes(ns)) continue;
        const hadOlder = [...state.secrets.values()].some(
          (s) => s.labels[TARGET_LABEL] === d.target && s.name !== d.name,
        );
        const result: NamespaceResult = {
          target: d.target,
          namespace: ns,
          outcome: 'unchanged',
          secret: d.name,
          actions: [],
          kept: [],
          notes: [],
          writes: 0,
        };
        if (await step(ns, d, result, hadOlder, async () => undefined)) {
          pending.set(ns, [...(pending.get(ns) ?? []), { result, d, hadOlder }]);
        } else {
          await finish(result, d);
        }
      }
      done++;
      opts.onProgress?.(done, total);
    });

    if (pending.size > 0) {
      const podsByNs = new Map<string, PodObject[]>([...pending.keys()].map((ns) => [ns, []]));
      let listed = true;
      try {
        for (const p of await gateway.listPods([...pending.keys()])) podsByNs.get(p.namespace)?.push(p);
      } catch (e) {
        if (!isRotatorError(e, 'KUBE_FORBIDDEN')) throw e;
        listed = false; // read them per namespace; namespaces that cannot be read fail there
      }
      const stoppedLate = await pool(
        [...pending.keys()],
        config.rotation.concurrency,
        opts.signal,
        async (ns) => {
          const st = byNs.get(ns);
          if (st && listed) st.pods = podsByNs.get(ns) ?? [];
          for (const { result, d, hadOlder } of pending.get(ns) ?? []) {
            await step(ns, d, result, hadOlder, (n) => gateway.listPods([n]));
            await finish(result, d);
          }
          pending.delete(ns);
        },
      );
      for (const ns of stoppedLate) {
        for (const { result, d } of pending.get(ns) ?? []) {
          result.notes.push('run stopped before superseded secrets were checked against pods');
          await finish(result, d);
        }
      }
      if (stoppedLate.length > 0) interrupted = true;
    }

    if (stopped.length > 0) {
      interrupted = true;
      for (const ns of stopped) {
        for (const r of ready) {
          if (scopes.get(r.target.name)?.namespaces.includes(ns))
            nsResults.push(
              skippedResult(r.target.name, { namespace: ns, reason: 'run stopped before this namespace' }),
            );
        }
      }
    }
  }
  for (const t of targetResults) await deps.hooks?.targetDone?.(t);
  nsResults.sort((a, b) =>
    a.target === b.target ? (a.namespace < b.namespace ? -1 : 1) : a.target < b.target ? -1 : 1,
  );
  return {
    startedAt,
    finishedAt: deps.now(),
    dryRun: opts.dryRun,
    targets: targetResults,
    namespaces: nsResults,
    writes: nsResults.reduce((n, r) => n + r.writes, 0),
    interrupted: interrupted || opts.signal?.aborted === true,
    provisionalNames,
  };
}

function skippedResult(target: string, sk: Skipped): NamespaceResult {
  return {
    target,
    namespace: sk.namespace,
    outcome: 'skipped',
    secret: undefined,
    actions: [],
    kept: [],
    notes: [sk.reason],
    writes: 0,
  };
}
