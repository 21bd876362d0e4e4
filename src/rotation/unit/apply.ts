import { setTimeout as sleep } from 'node:timers/promises';
import { RotatorError } from '../../errors.ts';
import { applyOne } from './actions.ts';
import { plan } from './plan.ts';
import type {
  ActionRecord,
  ApplyDeps,
  DesiredSecret,
  Kept,
  NamespaceState,
  RetentionPolicy,
} from './types.ts';

/** A plan that is not empty after this many rounds is a bug or a fight with another writer. */
const MAX_ROUNDS = 8;

export interface ConvergeResult {
  records: ActionRecord[];
  kept: Kept[];
  notes: string[];
  writes: number;
  /** An observation the caller must supply before this namespace can finish (see ApplyDeps.pods). */
  pending: 'pods' | undefined;
  /** The last plan's dataChangedAt. */
  dataChangedAt: number | undefined;
}

/** Waits until `when` (epoch ms, on the deps' clock); a stop request ends the wait early. */
export async function settleUntil(when: number, deps: Pick<ApplyDeps, 'now' | 'signal'>): Promise<void> {
  const ms = when - deps.now().getTime();
  if (ms > 0) await sleep(ms, undefined, { signal: deps.signal }).catch(() => undefined);
}

/**
 * observe → plan → apply, repeated until the plan is empty. Each action is one atomic API write guarded by
 * a precondition; a failed precondition re-reads that object and re-plans. Stopping between two actions
 * (crash, SIGTERM) leaves a state the next run converges from (I4).
 */
export async function converge(
  d: DesiredSecret,
  retention: RetentionPolicy,
  s: NamespaceState,
  deps: ApplyDeps,
): Promise<ConvergeResult> {
  const records: ActionRecord[] = [];
  let writes = 0;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const p = plan(d, retention, s, deps.now());
    if (p.blocked !== undefined) {
      throw new RotatorError('OWNERSHIP', `${s.namespace}: ${p.blocked}`, {
        details: { namespace: s.namespace, target: d.target },
      });
    }
    if (p.actions.length === 0 && p.needs === undefined)
      return {
        records,
        kept: p.kept,
        notes: p.notes,
        writes,
        pending: undefined,
        dataChangedAt: p.dataChangedAt,
      };
    let replan = false;
    for (const a of p.actions) {
      if (deps.signal?.aborted === true) {
        throw new RotatorError(
          'INTERRUPTED',
          `${s.namespace}: stopped on request between two steps (state is consistent; the next run continues)`,
        );
      }
      if (!deps.dryRun) await deps.beforeWrite?.();
      const r = await applyOne(a, d, s, deps, records);
      if (r.write && !deps.dryRun) writes++;
      if (a.kind === 'repoint' && !r.replan && !deps.dryRun)
        s.podsNotBefore = Math.max(s.podsNotBefore ?? 0, deps.now().getTime() + retention.settleMs);
      if ((replan = r.replan)) break;
    }
    // Pods are observed after this plan's writes (repoints first), so a pod created meanwhile is seen.
    if (!replan && p.needs === 'pods') {
      s.podsNotBefore = Math.max(s.podsNotBefore ?? 0, p.podsNotBefore ?? 0);
      if (!deps.pods)
        return { records, kept: p.kept, notes: p.notes, writes, pending: 'pods', dataChangedAt: undefined };
      if (!deps.dryRun) await settleUntil(s.podsNotBefore, deps);
      s.pods = await deps.pods(s.namespace);
    }
  }
  throw new RotatorError(
    'NOT_CONVERGED',
    `${s.namespace}: target ${d.target} did not converge after ${MAX_ROUNDS} rounds (another writer keeps changing these objects?)`,
    {
      retryable: true,
      details: { namespace: s.namespace, target: d.target },
    },
  );
}
