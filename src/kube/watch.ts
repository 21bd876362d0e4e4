import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../base/logger.ts';
import type { RawList, RawObject } from './convert.ts';
import { KubeHttpError, type KubeRest, type Query } from './rest.ts';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface WatchHandlers {
  /** The full current state: at start, and after the server forgot our place (410 Gone). */
  synced(items: RawObject[]): void;
  event(type: WatchEventType, object: RawObject): void;
  /** Connection state, for metrics and health. */
  state?(up: boolean, reason: string): void;
}

interface WatchLine {
  type?: string;
  object?: RawObject & { code?: number; kind?: string; metadata?: { resourceVersion?: string } };
}

/** Read through a call: the signal changes under an await, which flow analysis cannot see. */
const isAborted = (s: AbortSignal): boolean => s.aborted;
const gone = (e: unknown) => e instanceof KubeHttpError && e.code === 410;

/**
 * One resource kept in sync: a list, then a watch with bookmarks that resumes from the last
 * resourceVersion after the server ends it or the connection drops (backoff 0.5 s → 30 s). Only when the
 * server no longer has our place (410 Gone, or an ERROR event carrying it) does it list again — an idle
 * cluster costs no request but the open watch.
 */
export class ResourceWatch {
  readonly #rest: KubeRest;
  readonly #path: string;
  readonly #query: Query;
  readonly #h: WatchHandlers;
  readonly #log: Logger;
  readonly #name: string;
  relists = 0;
  reconnects = 0;

  constructor(
    rest: KubeRest,
    name: string,
    path: string,
    query: Query,
    handlers: WatchHandlers,
    logger: Logger,
  ) {
    this.#rest = rest;
    this.#name = name;
    this.#path = path;
    this.#query = query;
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
        if (gone(e)) {
          this.#log.info({ watch: this.#name }, 'watch position expired (410); listing again');
          rv = undefined;
          continue;
        }
        failures++;
        this.reconnects++;
        this.#h.state?.(false, (e as Error).message);
        if (e instanceof KubeHttpError && e.code === 403) {
          this.#log.error(
            { watch: this.#name },
            `cannot watch ${this.#name.split(' ')[0] ?? this.#name}: forbidden — grant "watch" on ${this.#name.split(' ')[0] ?? this.#name} (deploy/overlays/scheduler does); changes wait for the next scheduled run meanwhile`,
          );
        }
        const delay = Math.min(30_000, 500 * 2 ** Math.min(failures - 1, 6));
        this.#log.warn(
          { watch: this.#name, err: (e as Error).message, retryInMs: delay },
          'watch interrupted; resuming',
        );
        await sleep(delay, undefined, { signal }).catch(() => undefined);
      }
    }
  }

  async #list(signal: AbortSignal): Promise<string> {
    const items: RawObject[] = [];
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await this.#rest.json<RawList<RawObject>>(
        { method: 'GET', path: this.#path, query: { ...this.#query, limit: 500, continue: cont } },
        signal,
      );
      items.push(...(page.items ?? []));
      cont = page.metadata?.continue || undefined;
      rv = page.metadata?.resourceVersion ?? rv;
    } while (cont);
    this.relists++;
    this.#h.synced(items);
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
        path: this.#path,
        query: {
          ...this.#query,
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
          this.#h.event(line.type, obj);
      },
      signal,
    );
    this.#h.state?.(true, 'watching');
    if (seen.expired) throw new KubeHttpError(410, 'watch position expired', {});
    return rv;
  }
}
