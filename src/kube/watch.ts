import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../base/logger.ts';
import { backoffMs, type Backoff } from '../base/retry.ts';
import type { RawList, RawObject } from './convert.ts';
import type { Watch, WatchHandlers } from './gateway.ts';
import { KubeHttpError, type KubeRest, type Query } from './rest.ts';

/** A dropped watch resumes after 0.5 s, doubling up to 30 s while it keeps failing. */
const RESUME: Backoff = { baseMs: 500, maxMs: 30_000 };

interface WatchLine {
  type?: string;
  object?: RawObject & { code?: number; kind?: string; metadata?: { resourceVersion?: string } };
}

/** Read through a call: the signal changes under an await, which flow analysis cannot see. */
const isAborted = (s: AbortSignal): boolean => s.aborted;
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
 */
export class ResourceWatch<T> implements Watch {
  readonly #rest: KubeRest;
  readonly #t: WatchTarget<T>;
  readonly #h: WatchHandlers<T>;
  readonly #log: Logger;
  relists = 0;
  reconnects = 0;

  constructor(rest: KubeRest, target: WatchTarget<T>, handlers: WatchHandlers<T>, logger: Logger) {
    this.#rest = rest;
    this.#t = target;
    this.#h = handlers;
    this.#log = logger;
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
            `cannot watch ${what}: forbidden — grant "watch" on ${what} (deploy/overlays/scheduler does); changes wait for the next scheduled run meanwhile`,
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
      const page = await this.#rest.json<RawList<RawObject>>(
        { method: 'GET', path, query: { ...query, limit: 500, continue: cont } },
        signal,
      );
      cont = page.metadata?.continue || undefined;
      rv = page.metadata?.resourceVersion ?? rv;
      this.#h.page((page.items ?? []).map(map), cont === undefined);
    } while (cont);
    this.relists++;
    this.#h.state?.(true, 'listed');
    return rv;
  }

  /** One watch request; returns the last resourceVersion seen when the server ends it. */
  async #watch(from: string, signal: AbortSignal): Promise<string> {
    let rv = from;
    const seen = { expired: false };
    await this.#rest.stream(
      {
        method: 'GET',
        path: this.#t.path,
        query: {
          ...this.#t.query,
          watch: 1,
          allowWatchBookmarks: true,
          resourceVersion: rv,
          timeoutSeconds: 300,
        },
      },
      (o) => {
        const line = o as WatchLine;
        const obj = line.object;
        if (line.type === 'ERROR') {
          if (obj?.code === 410) seen.expired = true;
          return;
        }
        if (obj?.metadata?.resourceVersion) rv = obj.metadata.resourceVersion;
        if (line.type === 'BOOKMARK' || !obj) return;
        if (line.type === 'ADDED' || line.type === 'MODIFIED' || line.type === 'DELETED')
          this.#h.event(line.type, this.#t.map(obj));
      },
      signal,
    );
    this.#h.state?.(true, 'watching');
    if (seen.expired) throw new KubeHttpError(410, 'watch position expired', {});
    return rv;
  }
}
