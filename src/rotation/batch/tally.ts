import { actionKind, type NamespaceOutcome, type NamespaceResult } from '../unit/result.ts';
import type { ActionRecord } from '../unit/types.ts';

/**
 * What a run's namespace results add up to, counted as each namespace finishes: a run over 10,000
 * namespaces keeps these counts (and the results the caller asked to keep), not 10,000 results.
 */
export class RunTally {
  /** Namespace results in all, and by target and outcome. */
  total = 0;
  readonly outcomes = new Map<string, Map<NamespaceOutcome, number>>();
  /** Actions by kind (from actionKind), then result: `actions.get('repoint')?.get('conflict')`. */
  readonly actions = new Map<string, Map<ActionRecord['result'], number>>();
  writes = 0;
  failed = 0;
  /** When the data of an existing Secret last changed (epoch ms): nodes may hold the old data for a moment. */
  dataChangedAt: number | undefined;
  readonly #keep: (r: NamespaceResult) => boolean;
  readonly #kept: NamespaceResult[] = [];

  /** `keep` picks the results to hand back whole (all of them when absent). */
  constructor(keep?: (r: NamespaceResult) => boolean) {
    this.#keep = keep ?? (() => true);
  }

  add(r: NamespaceResult): void {
    this.total++;
    let byOutcome = this.outcomes.get(r.target);
    if (!byOutcome) {
      byOutcome = new Map<NamespaceOutcome, number>();
      this.outcomes.set(r.target, byOutcome);
    }
    byOutcome.set(r.outcome, (byOutcome.get(r.outcome) ?? 0) + 1);
    if (r.outcome === 'failed') this.failed++;
    this.count(r.actions, r.writes);
    if (this.#keep(r)) this.#kept.push(r);
  }

  /**
   * Actions and writes of a namespace not done yet: a lean run counts them before the namespace waits on
   * pods, and its result then carries only what it does after the wait.
   */
  count(records: readonly ActionRecord[], writes: number): void {
    this.writes += writes;
    for (const a of records) {
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
  }

  /** Outcome counts over every target, e.g. { rotated: 3, unchanged: 9 }. */
  outcomeCounts(): Record<string, number> {
    const c: Record<string, number> = {};
    for (const m of this.outcomes.values()) for (const [k, n] of m) c[k] = (c[k] ?? 0) + n;
    return c;
  }

  /** The kept results, by target then namespace. */
  kept(): NamespaceResult[] {
    return [...this.#kept].sort((a, b) =>
      a.target === b.target ? (a.namespace < b.namespace ? -1 : 1) : a.target < b.target ? -1 : 1,
    );
  }
}
