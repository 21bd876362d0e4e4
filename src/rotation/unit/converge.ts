import type { Config } from '../../config/types.ts';
import { errorInfo, isRotatorError } from '../../errors.ts';
import { TARGET_LABEL } from '../../kube/labels.ts';
import type { SecretObject, ServiceAccountObject } from '../../kube/types.ts';
import type { Logger } from '../../base/logger.ts';
import { converge } from './apply.ts';
import type { NamespaceOutcome, NamespaceResult } from './result.ts';
import type {
  Action,
  ActionRecord,
  ApplyDeps,
  DesiredSecret,
  NamespaceState,
  RetentionPolicy,
} from './types.ts';

/**
 * One namespace's convergence: every target that covers it, from what is observed there, to its desired
 * state. The unit of work of a batch run (rotation/batch) and of a scheduler reacting to an event.
 */
export interface NamespaceWork {
  state: NamespaceState;
  targets: WorkTarget[];
}

/** A target's progress in the namespace: what its results so far add up to (each was reported already). */
interface WorkTarget {
  readonly desired: DesiredSecret;
  readonly hadOlder: boolean;
  outcome: NamespaceOutcome;
  done: boolean;
  /**
   * The kinds of the actions reported so far, one bit each (KINDS): the `namespace converged` line names
   * them. A number, not a list: a batch run holds this for every namespace that waits on its pods.
   */
  kinds: number;
}

/** Action kinds in the order a swap takes them; the `namespace converged` line names each once, in this order. */
const KINDS: readonly Action['kind'][] = ['create', 'repoint', 'update-data', 'delete'];
const kindBit = (k: Action['kind']): number => 1 << KINDS.indexOf(k);
const kindsOf = (bits: number): Action['kind'][] => KINDS.filter((k) => (bits & kindBit(k)) !== 0);

/** Where a namespace's results go as they happen (Events, the run's counts, the table). */
export interface NamespaceHooks {
  /**
   * Every result, as it happens (see NamespaceResult). `d` is undefined for a namespace the run did not
   * converge (skipped, unreadable, stopped before it).
   */
  result?(r: NamespaceResult, d: DesiredSecret | undefined): Promise<void> | void;
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

/**
 * Observes one namespace (our secrets there, its ServiceAccounts) and converges it: an event's unit of
 * work. Returns the results it reported (`deps.pods` should be given: without it a namespace that needs
 * its pods stops there). `podsAtStart`: read its pods first too, for the names they list (a pod naming an
 * earlier name of ours that is missing: NamespaceState.podsAtStart).
 */
export async function observeAndConverge(
  ns: string,
  desired: readonly DesiredSecret[],
  deps: NamespaceDeps,
  opts: { podsAtStart?: boolean } = {},
): Promise<NamespaceResult[]> {
  const g = deps.gateway;
  const [secrets, sas, pods] = await Promise.all([
    g.listManagedSecrets(
      [ns],
      desired.map((d) => d.target),
    ),
    g.listServiceAccounts([ns]),
    opts.podsAtStart && deps.pods ? deps.pods(ns) : undefined,
  ]);
  const state = groupState([ns], secrets, sas).get(ns) ?? emptyState(ns);
  state.podsAtStart = pods;
  const work = namespaceWork(state, desired);
  const results: NamespaceResult[] = [];
  await convergeNamespace(work, {
    ...deps,
    hooks: {
      result: async (r, d) => {
        results.push(r);
        await deps.hooks?.result?.(r, d);
      },
    },
  });
  return results;
}

export function namespaceWork(state: NamespaceState, desired: readonly DesiredSecret[]): NamespaceWork {
  return {
    state,
    targets: desired.map((d) => ({
      desired: d,
      hadOlder: [...state.secrets.values()].some(
        (s) => s.labels[TARGET_LABEL] === d.target && s.name !== d.name,
      ),
      outcome: 'unchanged',
      done: false,
      kinds: 0,
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
  // A pod's earlier name created again is a repair, not a rotation (plan.ts, reviveSteps).
  if (ok.some((r) => r.action.kind === 'create' && r.action.forPod === undefined))
    return hadOlder ? 'rotated' : 'provisioned';
  if (ok.some((r) => r.action.kind === 'update-data' && r.action.why === 'in-place')) return 'rotated';
  return 'updated';
}

/** A result of `t` in the namespace with nothing done (yet): the fields a step fills in. */
const blank = (t: WorkTarget, namespace: string): NamespaceResult => ({
  target: t.desired.target,
  namespace,
  outcome: t.outcome,
  secret: t.desired.name,
  actions: [],
  kept: [],
  notes: [],
  writes: 0,
});

/**
 * Converges the namespace's targets in order, reporting each target's result as it goes. Returns
 * 'needs-pods' when a target cannot finish without the namespace's pods and `deps.pods` is absent (it
 * reported what it did so far; call again once `work.state.pods` is set); a target's failure is reported
 * as its result and never stops the others. Only a lost or held run lock propagates.
 */
export async function convergeNamespace(
  work: NamespaceWork,
  deps: NamespaceDeps,
): Promise<'done' | 'needs-pods'> {
  let waiting = false;
  for (const t of work.targets) {
    if (t.done) continue;
    const r = blank(t, work.state.namespace);
    try {
      const c = await converge(t.desired, deps.retention, work.state, deps);
      t.outcome = stronger(t.outcome, outcomeOf(c.records, deps.dryRun, t.hadOlder));
      for (const a of c.records) t.kinds |= kindBit(a.action.kind);
      Object.assign(r, { outcome: t.outcome, actions: c.records, kept: c.kept, notes: c.notes });
      Object.assign(r, { writes: c.writes, dataChangedAt: c.dataChangedAt });
      if (c.pending === 'pods') {
        waiting = true;
        r.pending = 'pods';
        await deps.hooks?.result?.(r, t.desired);
        continue;
      }
    } catch (e) {
      if (isRotatorError(e, 'LOCK_HELD') || isRotatorError(e, 'LOCK_FAILED')) throw e;
      recordFailure(t, r, e, deps);
    }
    await finish(t, r, deps);
  }
  return waiting ? 'needs-pods' : 'done';
}

function recordFailure(t: WorkTarget, r: NamespaceResult, e: unknown, deps: NamespaceDeps): void {
  t.outcome = r.outcome = 'failed';
  r.error = errorInfo(e);
  deps.logger.error(
    { target: r.target, namespace: r.namespace, code: r.error.code, err: r.error.message },
    'namespace failed',
  );
}

/** Fails the targets not finished yet (the namespace could not be observed again for its pods). */
export async function failNamespace(work: NamespaceWork, e: unknown, deps: NamespaceDeps): Promise<void> {
  for (const t of work.targets) {
    if (t.done) continue;
    const r = blank(t, work.state.namespace);
    recordFailure(t, r, e, deps);
    await finish(t, r, deps);
  }
}

/** Ends the targets still waiting for pods with `note` (a run stopped between its two passes). */
export async function abandonNamespace(
  work: NamespaceWork,
  note: string,
  deps: NamespaceDeps,
): Promise<void> {
  for (const t of work.targets) {
    if (t.done) continue;
    await finish(t, { ...blank(t, work.state.namespace), notes: [note] }, deps);
  }
}

async function finish(t: WorkTarget, r: NamespaceResult, deps: NamespaceDeps): Promise<void> {
  t.done = true;
  if (r.outcome !== 'unchanged' && r.outcome !== 'failed') {
    deps.logger.info(
      {
        target: r.target,
        namespace: r.namespace,
        outcome: r.outcome,
        secret: t.desired.name,
        actions: kindsOf(t.kinds),
        kept: r.kept.length,
      },
      'namespace converged',
    );
  }
  await deps.hooks?.result?.(r, t.desired);
}
