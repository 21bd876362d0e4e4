/**
 * The one bounded worker pool: at most `limit` tasks in flight, the rest wait their turn in order (a
 * finishing task hands its slot straight to the next waiting one).
 */
export class Limiter {
  readonly limit: number;
  #active = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(limit: number) {
    this.limit = Math.max(1, limit);
  }

  /** Tasks running now. */
  get active(): number {
    return this.#active;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#active < this.limit) this.#active++;
    else await new Promise<void>((r) => this.#waiting.push(r));
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#active--;
    }
  }
}

/** Runs `worker` over `items` with at most `limit` in flight; stops taking new items once `signal` aborts. */
export async function pool<T>(
  items: readonly T[],
  limit: number,
  signal: AbortSignal | undefined,
  worker: (item: T) => Promise<void>,
): Promise<T[]> {
  const limiter = new Limiter(limit);
  const notStarted: T[] = [];
  await Promise.all(
    items.map((item) =>
      limiter.run(async () => {
        if (signal?.aborted === true) notStarted.push(item);
        else await worker(item);
      }),
    ),
  );
  return notStarted;
}
