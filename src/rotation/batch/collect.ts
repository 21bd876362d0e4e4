import type { NamespaceResult } from '../unit/result.ts';
import { byTargetThenNamespace } from './tally.ts';

/**
 * A consumer of a run's result stream that keeps whole namespace results: each namespace's results merged
 * into one (actions and writes added up; the last result's outcome, notes, kept and error), and of the
 * finished ones those `keep` picks (all when absent), in the order they finished. A namespace that waits
 * on its pods is held until it finishes. The table of an interactive run keeps its rows with it.
 */
export class ResultRows {
  readonly #keep: (r: NamespaceResult) => boolean;
  readonly #waiting = new Map<string, NamespaceResult>();
  readonly #rows: NamespaceResult[] = [];

  constructor(keep?: (r: NamespaceResult) => boolean) {
    this.#keep = keep ?? (() => true);
  }

  add(r: NamespaceResult): void {
    const key = `${r.target}\u0000${r.namespace}`;
    const before = this.#waiting.get(key);
    const whole: NamespaceResult = before
      ? { ...r, actions: [...before.actions, ...r.actions], writes: before.writes + r.writes }
      : { ...r, actions: [...r.actions] };
    if (r.pending) {
      this.#waiting.set(key, whole);
      return;
    }
    this.#waiting.delete(key);
    if (this.#keep(whole)) this.#rows.push(whole);
  }

  /** The kept results, by target then namespace. */
  results(): NamespaceResult[] {
    return [...this.#rows].sort(byTargetThenNamespace);
  }
}
