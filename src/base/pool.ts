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

/**
 * `fn` over `items` with up to `ahead` calls in flight, results yielded in the items' order: reading
 * ahead without giving up the order. A consumer that stops early leaves the calls in flight to finish
 * unobserved (their failures are not reported).
 */
export async function* ordered<T, R>(
  items: readonly T[],
  ahead: number,
  fn: (item: T) => Promise<R>,
): AsyncGenerator<R> {
  const inFlight: Promise<R>[] = [];
  let next = 0;
  while (next < items.length || inFlight.length > 0) {
    while (next < items.length && inFlight.length < Math.max(1, ahead)) {
      const p = fn(items[next++] as T);
      p.catch(() => undefined);
      inFlight.push(p);
    }
    yield await (inFlight.shift() as Promise<R>);
  }
}

/**
 * `worker` over what `source` yields, at most `limit` at once, taking the next item only when a worker
 * is free (so a lazy source is read as fast as the work goes, no faster). Stops taking items once `signal`
 * aborts; returns the items taken but not started.
 */
export async function poolStream<T>(
  source: AsyncIterable<T>,
  limit: number,
  signal: AbortSignal | undefined,
  worker: (item: T) => Promise<void>,
): Promise<T[]> {
  const it = source[Symbol.asyncIterator]();
  const notStarted: T[] = [];
  const stop = { failed: false };
  const stopping = () => signal?.aborted === true || stop.failed;
  const run = async (): Promise<void> => {
    while (!stopping()) {
      const r = await it.next();
      if (r.done === true) return;
      if (stopping()) notStarted.push(r.value);
      else await worker(r.value);
    }
  };
  const workers = Array.from({ length: Math.max(1, limit) }, () =>
    run().catch((e: unknown) => {
      stop.failed = true;
      throw e;
    }),
  );
  try {
    await Promise.all(workers);
  } finally {
    // Every worker has stopped (or will at its next item); close the source so it reads no further.
    await Promise.allSettled(workers);
    await it.return?.();
  }
  return notStarted;
}
