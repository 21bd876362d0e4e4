import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../base/logger.ts';
import { backoffMs, type Backoff } from '../base/retry.ts';
import type { RawList, RawObject } from './convert.ts';
import type { Watch, WatchHandlers } from './gateway.ts';
import { KubeHttpError, type KubeRest, type Query } from './rest.ts';

/** A dropped watch resumes after 0.5 s, doubling up to 30 s while it keeps failing. */
const RESUME: Backoff = { baseMs: 500, maxMs: 30_000 };
/** The server ends a watch after at most this long (and it resumes): a sign of life even on a quiet resource. */
const WATCH_SECONDS = 300;
/** The API server sends a bookmark about every minute; three missed ones and the server is not answering. */
export const STUCK_AFTER_MS = 180_000;

/** A watch connection that stayed silent for longer than the server may keep it: dropped and resumed. */
class SilentWatch extends Error {
  constructor(ms: number) {
    super(`no answer from the API server on this watch for ${Math.round(ms / 1000)} s`);
    this.name = 'SilentWatch';
  }
}

interface WatchLine {
  type?: string;
  object?: RawObject & { code?: number; kind?: string; metadata?: { resourceVersion?: string } };
}

/** Read through a call: the signal changes under an await, which flow analysis cannot see. */
const isAborted = (s: AbortSignal): boolean => s.aborted;
/** Where deploy/ grants "watch" on a kind the scheduler overlay itself does not. */
const WATCH_GRANTED_BY: Record<string, string> = {
  pods: 'deploy/components/healer and the admission components do',
};

const gone = (e: unknown) => e instanceof KubeHttpError && e.code === 410;

/** What a ResourceWatch reads: where, with which query, and how an item becomes one of our types. */
export interface WatchTarget<T> {
  /** For logs: `serviceaccounts /api/v1`. */
  name: string;
  path: string;
  query: Query;
  map: (raw: RawObject) => T;
}

/**
 * One resource kept in sync: a list (page by page, each reduced to our types before the next is read),
 * then a watch with bookmarks that resumes from the last resourceVersion after the server ends it or the
 * connection drops (RESUME backoff). Only when the server no longer has our place (410 Gone, or an ERROR
 * event carrying it) does it list again — an idle cluster costs no request but the open watch.
 *
 * Stuck detection: the server ends each watch after half of `stuckAfterMs` at most (bookmarks come every
 * minute besides), so a healthy watch shows a sign of life at least that often. `lastActivity` says when it
 * last did (health); a connection silent for `stuckAfterMs` — the server or the path to it hangs without
 * closing it — is dropped and resumed like any other failure.
 */
export class ResourceWatch<T> implements Watch {
  readonly #rest: KubeRest;
  readonly #t: WatchTarget<T>;
  readonly #h: WatchHandlers<T>;
  readonly #log: Logger;
  readonly #stuckAfterMs: number;
  relists = 0;
  reconnects = 0;
  lastActivity = Date.now();

  constructor(
    rest: KubeRest,
    target: WatchTarget<T>,
    handlers: WatchHandlers<T>,
    logger: Logger,
    stuckAfterMs = STUCK_AFTER_MS,
  ) {
    this.#rest = rest;
    this.#t = target;
    this.#h = handlers;
    this.#log = logger;
    this.#stuckAfterMs = stuckAfterMs;
  }

  #alive(): void {
    this.lastActivity = Date.now();
  }

  /** Runs until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    let rv: string | undefined;
    let failures = 0;
    while (!signal.aborted) {
      try {
        rv ??= await this.#list(signal);
        rv = await this.#watch(rv, signal);
        failures = 0;
      } catch (e) {
        if (isAborted(signal)) return;
        const name = this.#t.name;
        if (gone(e)) {
          this.#log.info({ watch: name }, 'watch position expired (410); listing again');
          rv = undefined;
          continue;
        }
        failures++;
        this.reconnects++;
        this.#h.state?.(false, (e as Error).message);
        if (e instanceof KubeHttpError && e.code === 403) {
          const what = name.split(' ')[0] ?? name;
          this.#log.error(
            { watch: name },
            `cannot watch ${what}: forbidden — grant "watch" on ${what} (${WATCH_GRANTED_BY[what] ?? 'deploy/overlays/scheduler does'}); changes wait for the next scheduled run meanwhile`,
          );
        }
        const delay = backoffMs(failures, RESUME);
        this.#log.warn(
          { watch: name, err: (e as Error).message, retryInMs: delay },
          'watch interrupted; resuming',
        );
        await sleep(delay, undefined, { signal }).catch(() => undefined);
      }
    }
  }

  async #list(signal: AbortSignal): Promise<string> {
    const { path, query, map } = this.#t;
    let cont: string | undefined;
    let rv = '';
    do {
      const items: T[] = [];
      const page = await this.#rest.list<RawList<RawObject>>(
        { method: 'GET', path, query: { ...query, limit: 500, continue: cont } },
        (item) => items.push(map(item as RawObject)),
        signal,
      );
      this.#alive();
      cont = page.metadata?.continue || undefined;
      rv = page.metadata?.resourceVersion ?? rv;
      this.#h.page(items, cont === undefined);
    } while (cont);
    this.relists++;
    this.#h.state?.(true, 'listed');
    return rv;
  }

  /** One watch request; returns the last resourceVersion seen when the server ends it. */
  async #watch(from: string, signal: AbortSignal): Promise<string> {
    let rv = from;
    const seen = { expired: false };
    const silent = new AbortController();
    const stuckAfter = this.#stuckAfterMs;
    const opened = Date.now(); // after a backoff, this connection gets its own full allowance
    const check = setInterval(
      () => {
        if (Date.now() - Math.max(this.lastActivity, opened) >= stuckAfter)
          silent.abort(new SilentWatch(stuckAfter));
      },
      Math.min(5_000, stuckAfter / 4),
    );
    try {
      await this.#stream(rv, seen, (v) => (rv = v), AbortSignal.any([signal, silent.signal]));
    } catch (e) {
      if (silent.signal.aborted && !signal.aborted) throw silent.signal.reason as Error;
      throw e;
    } finally {
      clearInterval(check);
    }
    this.#alive();
    this.#h.state?.(true, 'watching');
    if (seen.expired) throw new KubeHttpError(410, 'watch position expired', {});
    return rv;
  }

  async #stream(
    rv: string,
    seen: { expired: boolean },
    setRv: (rv: string) => void,
    signal: AbortSignal,
  ): Promise<void> {
    await this.#rest.stream(
      {
        method: 'GET',
        path: this.#t.path,
        query: {
          ...this.#t.query,
          watch: 1,
          allowWatchBookmarks: true,
          resourceVersion: rv,
          timeoutSeconds: Math.max(1, Math.min(WATCH_SECONDS, Math.floor(this.#stuckAfterMs / 2000))),
        },
      },
      (o) => {
        this.#alive();
        const line = o as WatchLine;
        const obj = line.object;
        if (line.type === 'ERROR') {
          if (obj?.code === 410) seen.expired = true;
          return;
        }
        if (obj?.metadata?.resourceVersion) setRv(obj.metadata.resourceVersion);
        if (line.type === 'BOOKMARK' || !obj) return;
        if (line.type === 'ADDED' || line.type === 'MODIFIED' || line.type === 'DELETED')
          this.#h.event(line.type, this.#t.map(obj));
      },
      signal,
    );
  }
}
