import type { RunSummary } from '../rotation/batch/run.ts';
import type { NamespaceResult } from '../rotation/unit/result.ts';
import { describeAction, summaryFields } from './summary.ts';

/**
 * What `plan -o json|yaml` prints: the targets (revision, age, policy, verification), the outcome counts,
 * and the namespaces the table would list (those that change, at most TABLE_ROWS), each with its actions
 * in words — the same content as the table, for scripts.
 */
export function runDocument(s: RunSummary, kept: readonly NamespaceResult[]): Record<string, unknown> {
  const { dryRun, interrupted, outcomes, targets, failed } = summaryFields(s);
  const shown = (name: string) => s.provisionalNames[name] ?? name;
  return {
    dryRun,
    interrupted,
    outcomes,
    targets,
    failed,
    namespaces: kept.map((r) => ({
      target: r.target,
      namespace: r.namespace,
      outcome: r.outcome,
      secret: r.secret === undefined ? undefined : shown(r.secret),
      actions: r.actions.map((a) => describeAction(a.action, shown)),
      kept: r.kept.map((k) => ({ name: shown(k.name), reason: k.reason })),
      notes: r.notes,
      error: r.error,
    })),
  };
}
