import { intern } from '../../base/intern.ts';
import { errorInfo, isRotatorError } from '../../errors.ts';
import { TARGET_LABEL } from '../../kube/labels.ts';
import type { Logger } from '../../base/logger.ts';
import { converge } from './apply.ts';
import type { NamespaceOutcome, NamespaceResult } from './result.ts';
import type { SecretObject, ServiceAccountObject } from '../../kube/types.ts';
import type { ActionRecord, ApplyDeps, DesiredSecret, NamespaceState, RetentionPolicy } from './types.ts';
import type { Config } from '../../config/types.ts';

/**
 * One namespace's convergence: every target that covers it, from what is observed there, to its desired
 * state. The unit of work of a batch run (rotation/run.ts) and of a scheduler reacting to an event.
 */
export interface NamespaceWork {
  state: NamespaceState;
  targets: WorkTarget[];
}

interface WorkTarget {
  desired: DesiredSecret;
  result: NamespaceResult;
  hadOlder: boolean;
  done: boolean;
  /**
   * Kinds of the actions reported before a wait on pods (lean runs), comma-separated and interned (a
   * handful of distinct values): the final log line names them too.
   */
  earlier?: string | undefined;
}

/** What a namespace's convergence reports to (Events, the run's tally); all optional. */
export interface NamespaceHooks {
  namespaceDone?(r: NamespaceResult, d: DesiredSecret | undefined): Promise<void> | void;
  /**
   * A lean run's namespace about to wait on pods: what it did so far (its actions and writes). Its
   * `namespaceDone` later carries only what it did after the wait, with the outcome of the whole.
   */
  actionsDone?(r: NamespaceResult, d: DesiredSecret): Promise<void> | void;
}

export interface NamespaceDeps extends ApplyDeps {
  retention: RetentionPolicy;
  logger: Logger;
  hooks?: NamespaceHooks | undefined;
}

export function emptyState(namespace: string): NamespaceState {
  return { namespace, secrets: new Map(), serviceAccounts: new Map(), pods: undefined };
}

/** Namespace states from lists of our Secrets and the ServiceAccounts (items of other namespaces dropped). */
export function groupState(
  namespaces: readonly string[],
  secrets: readonly SecretObject[],
  sas: readonly ServiceAccountObject[],
): Map<string, NamespaceState> {
  const m = new Map(namespaces.map((ns) => [ns, emptyState(ns)]));
  for (const s of secrets) m.get(s.namespace)?.secrets.set(s.name, s);
  for (const sa of sas) m.get(sa.namespace)?.serviceAccounts.set(sa.name, sa);
  return m;
}

/** The retention rules of the config's `rotation` section. */
export function retentionOf(r: Config['rotation']): RetentionPolicy {
  return {
    retainSupersededMs: r.retainSupersededMs,
    settleMs: r.settleSeconds * 1000,
    waitForPods: r.waitForPods,
    refreshSuperseded: r.refreshSuperseded,
  };
}

/** Observes one namespace (our secrets there, its ServiceAccounts) and converges it: an event's unit of work. */
export async function observeAndConverge(
  ns: string,
  desired: readonly DesiredSecret[],
  deps: NamespaceDeps,
): Promise<NamespaceResult[]> {
  const g = deps.gateway;
  const [secrets, sas] = await Promise.all([
    g.listManagedSecrets(
      [ns],
      desired.map((d) => d.target),
    ),
    g.listServiceAccounts([ns]),
  ]);
  const work = namespaceWork(groupState([ns], secrets, sas).get(ns) ?? emptyState(ns), desired);
  await convergeNamespace(work, deps);
  return work.targets.map((t) => t.result);
}

export function namespaceWork(state: NamespaceState, desired: readonly DesiredSecret[]): NamespaceWork {
  return {
    state,
    targets: desired.map((d) => ({
      desired: d,
      hadOlder: [...state.secrets.values()].some(
        (s) => s.labels[TARGET_LABEL] === d.target && s.name !== d.name,
      ),
      done: false,
      result: {
        target: d.target,
        namespace: state.namespace,
        outcome: 'unchanged',
        secret: d.name,
        actions: [],
        kept: [],
        notes: [],
        writes: 0,
      },
    })),
  };
}

/** How much a namespace changed: a run's outcome is the strongest of its steps'. */
const STRENGTH: Partial<Record<NamespaceOutcome, number>> = {
  updated: 1,
  planned: 2,
  rotated: 2,
  provisioned: 2,
};
const stronger = (a: NamespaceOutcome, b: NamespaceOutcome) =>
  (STRENGTH[b] ?? 0) > (STRENGTH[a] ?? 0) ? b : a;

function outcomeOf(records: readonly ActionRecord[], dryRun: boolean, hadOlder: boolean): NamespaceOutcome {
  const ok = records.filter((r) => r.result === 'ok');
  if (ok.length === 0) return 'unchanged';
  if (dryRun) return 'planned';
  if (ok.some((r) => r.action.kind === 'create')) return hadOlder ? 'rotated' : 'provisioned';
  if (ok.some((r) => r.action.kind === 'update-data' && r.action.why === 'in-place')) return 'rotated';
  return 'updated';
}

/**
 * Converges the namespace's targets in order. Returns 'needs-pods' when a target cannot finish without
 * the namespace's pods and `deps.pods` is absent (call again once `work.state.pods` is set); a target's
 * failure is recorded on its result and never stops the others. Only a lost or held run lock propagates.
 */
export async function convergeNamespace(
  work: NamespaceWork,
  deps: NamespaceDeps,
): Promise<'done' | 'needs-pods'> {
  let waiting = false;
  for (const t of work.targets) {
    if (t.done) continue;
    const r = t.result;
    try {
      const c = await converge(t.desired, deps.retention, work.state, deps);
      r.actions.push(...c.records);
      Object.assign(r, { kept: c.kept, notes: c.notes, writes: r.writes + c.writes });
      r.outcome = stronger(r.outcome, outcomeOf(c.records, deps.dryRun, t.hadOlder));
      if (c.pending === 'pods') {
        waiting = true;
        continue;
      }
    } catch (e) {
      if (isRotatorError(e, 'LOCK_HELD') || isRotatorError(e, 'LOCK_FAILED')) throw e;
      recordFailure(r, e, deps);
    }
    await finish(t, deps);
  }
  return waiting ? 'needs-pods' : 'done';
}

function recordFailure(r: NamespaceResult, e: unknown, deps: NamespaceDeps): void {
  r.outcome = 'failed';
  r.error = errorInfo(e);
  deps.logger.error(
    { target: r.target, namespace: r.namespace, code: r.error.code, err: r.error.message },
    'namespace failed',
  );
}

/**
 * A lean run's namespace about to wait on pods: each waiting target reports its actions so far
 * (hooks.actionsDone: Events, the tally) and keeps only its outcome, so that thousands of namespaces
 * between the passes hold a few hundred bytes each, not their action records.
 */
export async function reportSoFar(work: NamespaceWork, deps: NamespaceDeps): Promise<void> {
  for (const t of work.targets) {
    if (t.done) continue;
    const r = t.result;
    await deps.hooks?.actionsDone?.(r, t.desired);
    t.earlier = intern(kindsOf(t).join(','));
    t.result = { ...r, actions: [], kept: [], notes: [], writes: 0 };
  }
}

/** Every action kind of a target so far: those reported before a wait on pods, then its result's. */
const kindsOf = (t: WorkTarget): string[] => [
  ...(t.earlier ? t.earlier.split(',') : []),
  ...t.result.actions.map((a) => a.action.kind),
];

/** Fails the targets not finished yet (the namespace could not be observed again for its pods). */
export async function failNamespace(work: NamespaceWork, e: unknown, deps: NamespaceDeps): Promise<void> {
  for (const t of work.targets) {
    if (t.done) continue;
    recordFailure(t.result, e, deps);
    await finish(t, deps);
  }
}

/** Marks targets still waiting for pods as stopped (a run stopped between its two passes). */
export async function abandonNamespace(
  work: NamespaceWork,
  note: string,
  deps: NamespaceDeps,
): Promise<void> {
  for (const t of work.targets) {
    if (t.done) continue;
    t.result.notes.push(note);
    await finish(t, deps);
  }
}

async function finish(t: WorkTarget, deps: NamespaceDeps): Promise<void> {
  t.done = true;
  const r = t.result;
  if (r.outcome !== 'unchanged' && r.outcome !== 'failed') {
    deps.logger.info(
      {
        target: r.target,
        namespace: r.namespace,
        outcome: r.outcome,
        secret: t.desired.name,
        actions: kindsOf(t),
        kept: r.kept.length,
      },
      'namespace converged',
    );
  }
  await deps.hooks?.namespaceDone?.(r, t.desired);
}
