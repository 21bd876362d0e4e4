/** Runs `worker` over `items` with at most `limit` in flight; stops taking new items once `signal` aborts. */
export async function pool<T>(
  items: readonly T[],
  limit: number,
  signal: AbortSignal | undefined,
  worker: (item: T) => Promise<void>,
): Promise<T[]> {
  const queue = [...items];
  const notStarted: T[] = [];
  const run = async (): Promise<void> => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
      if (signal?.aborted === true) {
        notStarted.push(item, ...queue.splice(0));
        return;
      }
      await worker(item);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, run));
  return notStarted;
}
