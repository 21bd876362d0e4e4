import { RotatorError } from '../../errors.ts';
import { storageKey, type ListChunk } from '../../kube/gateway.ts';

/**
 * Reads one streamed list (in storage order) namespace by namespace: `take(ns)` reads chunks until the
 * list has passed `ns` and hands over that namespace's items. Namespaces must be asked for in storage
 * order; what lies between them (out of scope) is dropped. The next chunk is always on its way while the
 * last one is worked on (the API server's time overlaps ours). Memory: two chunks, not the list.
 */
export class ListCursor<T extends { namespace: string }> {
  readonly #it: AsyncIterator<ListChunk<T>>;
  #ahead: Promise<IteratorResult<ListChunk<T>>> | undefined;
  #buf: T[] = [];
  #head = 0;
  #done = false;
  /** Storage key of the last item read, and of the last namespace a chunk said was complete. */
  #lastKey = '';
  #completeKey = '';
  readonly #unreadable = new Map<string, RotatorError>();
  readonly #what: string;
  #failed: Error | undefined;

  constructor(source: AsyncIterable<ListChunk<T>>, what: string) {
    this.#it = source[Symbol.asyncIterator]();
    this.#what = what;
    this.#readAhead();
  }

  /** Asks for the next chunk now; its failure is reported by the `readMore` that takes it. */
  #readAhead(): void {
    this.#ahead = this.#it.next();
    this.#ahead.catch(() => undefined);
  }

  /** The items read so far and not yet taken (to peek before taking, e.g. for name salts). */
  get buffered(): readonly T[] {
    return this.#buf.slice(this.#head);
  }

  get done(): boolean {
    return this.#done;
  }

  /** Reads the next chunk; false at the end of the list. */
  async readMore(): Promise<boolean> {
    if (this.#failed) throw this.#failed;
    if (this.#done) return false;
    let r: IteratorResult<ListChunk<T>>;
    try {
      r = await (this.#ahead ?? this.#it.next());
      this.#ahead = undefined;
    } catch (e) {
      // A list that failed mid-way (after its retries) has lost its place: nothing after it can be trusted.
      this.#failed = e instanceof Error ? e : new Error(String(e));
      throw this.#failed;
    }
    if (r.done === true) {
      this.#done = true;
      return false;
    }
    this.#readAhead();
    const chunk = r.value;
    for (const item of chunk.items) {
      const key = storageKey(item.namespace);
      if (key < this.#lastKey)
        throw (this.#failed = new RotatorError(
          'KUBE_INVALID',
          `the API server listed ${this.#what} out of namespace order (${item.namespace} after ${this.#lastKey.slice(0, -1)}); cannot stream it`,
        ));
      this.#lastKey = key;
    }
    if (this.#head > 0 && this.#head >= this.#buf.length / 2) {
      this.#buf = this.#buf.slice(this.#head);
      this.#head = 0;
    }
    for (const item of chunk.items) this.#buf.push(item);
    if (chunk.complete !== undefined) {
      const key = storageKey(chunk.complete);
      if (key > this.#completeKey) this.#completeKey = key;
      if (chunk.unreadable) this.#unreadable.set(chunk.complete, chunk.unreadable);
    }
    return true;
  }

  /** Everything of `namespace`, once the list has passed it; throws when that namespace may not be read. */
  async take(namespace: string): Promise<T[]> {
    const key = storageKey(namespace);
    if (this.#failed) throw this.#failed;
    while (!this.#done && !(this.#lastKey > key) && !(this.#completeKey >= key)) await this.readMore();
    const denied = this.#unreadable.get(namespace);
    if (denied) {
      this.#unreadable.delete(namespace);
      throw denied;
    }
    const buf = this.#buf;
    while (this.#head < buf.length && storageKey((buf[this.#head] as T).namespace) < key) this.#head++;
    const out: T[] = [];
    while (this.#head < buf.length && (buf[this.#head] as T).namespace === namespace)
      out.push(buf[this.#head++] as T);
    return out;
  }

  /** Stops reading (the source closes its request stream). */
  async close(): Promise<void> {
    this.#done = true;
    await this.#it.return?.();
  }
}
