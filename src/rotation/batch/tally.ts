import type { ErrorCode } from '../../errors.ts';
import { actionKind, type NamespaceOutcome, type NamespaceResult } from '../unit/result.ts';
import type { ActionRecord } from '../unit/types.ts';

/** A namespace that failed, as the `run summary` line lists it. */
export interface Failure {
  target: string;
  namespace: string;
  error: { code: ErrorCode; message: string } | undefined;
}

/**
 * What a run's namespace results add up to, counted as they are reported: a run over 10,000 namespaces
 * keeps these counts (and its failures), not 10,000 results.
 */
export class RunTally {
  /** Namespace results in all (a namespace's last result, for each target), and by target and outcome. */
  total = 0;
  readonly outcomes = new Map<string, Map<NamespaceOutcome, number>>();
  /** Actions by kind (from actionKind), then result: `actions.get('repoint')?.get('conflict')`. */
  readonly actions = new Map<string, Map<ActionRecord['result'], number>>();
  writes = 0;
  failed = 0;
  /** When the data of an existing Secret last changed (epoch ms): nodes may hold the old data for a moment. */
  dataChangedAt: number | undefined;
  readonly #failures: Failure[] = [];

  add(r: NamespaceResult): void {
    this.writes += r.writes;
    for (const a of r.actions) {
      const kind = actionKind(a.action);
      let byResult = this.actions.get(kind);
      if (!byResult) {
        byResult = new Map();
        this.actions.set(kind, byResult);
      }
      byResult.set(a.result, (byResult.get(a.result) ?? 0) + 1);
      if (a.result === 'ok' && a.action.kind === 'update-data')
        this.dataChangedAt = Math.max(this.dataChangedAt ?? 0, a.at);
    }
    if (r.pending) return; // its outcome comes with its last result
    this.total++;
    let byOutcome = this.outcomes.get(r.target);
    if (!byOutcome) {
      byOutcome = new Map<NamespaceOutcome, number>();
      this.outcomes.set(r.target, byOutcome);
    }
    byOutcome.set(r.outcome, (byOutcome.get(r.outcome) ?? 0) + 1);
    if (r.outcome === 'failed') {
      this.failed++;
      this.#failures.push({ target: r.target, namespace: r.namespace, error: r.error });
    }
  }

  /** Outcome counts over every target, e.g. { rotated: 3, unchanged: 9 }. */
  outcomeCounts(): Record<string, number> {
    const c: Record<string, number> = {};
    for (const m of this.outcomes.values()) for (const [k, n] of m) c[k] = (c[k] ?? 0) + n;
    return c;
  }

  /** The failed namespaces, by target then namespace. */
  failures(): Failure[] {
    return [...this.#failures].sort(byTargetThenNamespace);
  }
}

export const byTargetThenNamespace = (
  a: { target: string; namespace: string },
  b: { target: string; namespace: string },
): number => (a.target === b.target ? (a.namespace < b.namespace ? -1 : 1) : a.target < b.target ? -1 : 1);
