import type { NamespaceResult } from '../rotation/unit/result.ts';
import type { DesiredSecret } from '../rotation/unit/types.ts';
import type { RunLock } from '../rotation/batch/lock.ts';

/** How long the event side keeps the run lock after its last write before giving it back. */
const LOCK_IDLE_MS = 2000;

/** What a burst reports to: an Event recorder (one per burst, so its de-duplication and budget are too). */
export interface BurstRecorder {
  result(r: NamespaceResult, d: DesiredSecret | undefined): Promise<void> | void;
  flush(): Promise<void>;
}

/**
 * The event side's writes come in bursts: the run lock is taken at a burst's first write (full passes
 * and other replicas see it held) and given back, with the burst's Events flushed, once nothing has been
 * written for a moment.
 */
export class Bursts {
  readonly #lock: RunLock;
  readonly #newRecorder: () => BurstRecorder;
  readonly #signal: AbortSignal;
  #held: Promise<void> | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  #recorder: BurstRecorder;

  constructor(lock: RunLock, newRecorder: () => BurstRecorder, signal: AbortSignal) {
    this.#lock = lock;
    this.#newRecorder = newRecorder;
    this.#signal = signal;
    this.#recorder = newRecorder();
  }

  get recorder(): BurstRecorder {
    return this.#recorder;
  }

  /** Before a write: the lock, taken (and renewed) once per burst. */
  async beforeWrite(): Promise<void> {
    clearTimeout(this.#idleTimer);
    this.#held ??= this.#lock
      .acquire(true, this.#signal)
      .then(() => this.#lock.startRenewing(() => (this.#held = undefined)));
    await this.#held;
  }

  /** The queue drained: end the burst unless another write comes soon. */
  idle(): void {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => void this.#end(), LOCK_IDLE_MS);
  }

  /**
   * Ends the burst now (its Events flushed, the lock given back): before a full pass of this process, which
   * takes the same lock itself and would otherwise find it held — by us — and skip its run. Later writes
   * start a new burst.
   */
  async end(): Promise<void> {
    clearTimeout(this.#idleTimer);
    await this.#end();
  }

  async close(): Promise<void> {
    await this.end();
  }

  async #end(): Promise<void> {
    const held = this.#held;
    const recorder = this.#recorder;
    this.#held = undefined;
    this.#recorder = this.#newRecorder();
    await recorder.flush();
    if (held) await held.then(() => this.#lock.release()).catch(() => undefined);
  }
}
