import { isRotatorError, type RotatorError } from '../errors.ts';
import { ordered } from '../base/pool.ts';
import { withRetry } from '../base/retry.ts';
import type { Logger } from '../base/logger.ts';
import type { RawList, RawMeta } from './convert.ts';
import { describeOp, mapKubeError, type KubeOp } from './errors.ts';
import { storageOrder, type ListChunk, type NamespaceScope, type ObjectRef } from './gateway.ts';
import type { KubeRest, Query, RequestSpec } from './rest.ts';
import type { KubeRequestObserver } from './request-labels.ts';

export const PAGE = 500;
/**
 * One cluster-wide list, or one list per namespace? Per namespace is cheaper for a few namespaces of a big
 * cluster; one list is cheaper as soon as the scope is a fair share of the cluster, or large.
 */
export function listClusterWide(inScope: number, clusterNamespaces: number | undefined): boolean {
  if (inScope <= 8) return false;
  if (inScope > 50 || clusterNamespaces === undefined) return true;
  return inScope * 5 >= clusterNamespaces;
}
const PER_NAMESPACE_CONCURRENCY = 8;
/** Object refs remembered from answers (for Events), at most this many: the oldest go first. */
const REFS_KEPT = 1024;

/** Requests made, by `verb resource` — the engine's own count (the API server's metrics are the judge). */
export type RequestCounts = Record<string, number>;

/**
 * The request machinery under the gateway: every request gets retries (429/5xx/timeouts, honouring
 * Retry-After), error mapping, counting; lists get pagination — each page reduced to our types before the
 * next is read — and the cluster-wide vs per-namespace choice.
 */
export class KubeCaller {
  protected readonly rest: KubeRest;
  protected readonly log: Logger;
  readonly counts: RequestCounts = {};
  /** Namespaces in the cluster, when known (see estimateNamespaceCount): guides listClusterWide. */
  clusterNamespaces: number | undefined;
  readonly #attempts: number;
  readonly #refs = new Map<string, ObjectRef>();

  constructor(rest: KubeRest, logger: Logger, options: { attempts?: number } = {}) {
    this.rest = rest;
    this.log = logger;
    this.#attempts = options.attempts ?? 5;
  }

  /** One request, retried (`send` reads its answer: the parsed JSON body by default). */
  protected async call<T>(
    op: KubeOp,
    spec: RequestSpec,
    send: (spec: RequestSpec) => Promise<T> = (s) => this.rest.json<T>(s),
  ): Promise<T> {
    const key = `${op.verb} ${op.resource}`;
    return withRetry(
      async () => {
        this.counts[key] = (this.counts[key] ?? 0) + 1;
        try {
          const out = await send(spec);
          this.#remember(op, spec.method, out);
          return out;
        } catch (e) {
          throw mapKubeError(e, op);
        }
      },
      {
        attempts: this.#attempts,
        baseMs: 250,
        maxMs: 8000,
        decide: (e) => ({ retry: isRotatorError(e) && e.retryable, afterMs: retryAfter(e) }),
        onRetry: (e, attempt, delayMs) =>
          this.log.debug(
            {
              op: key,
              namespace: op.namespace,
              attempt,
              delayMs: Math.round(delayMs),
              code: (e as RotatorError).code,
            },
            'retrying Kubernetes request',
          ),
      },
    );
  }

  /** Every request to the API server (watches too) is reported to `observe`: request metrics. */
  observeRequests(observe: KubeRequestObserver): void {
    this.rest.observer = observe;
  }

  /** What a single-object answer says of its object's identity, kept for Events (EventGateway.objectRef). */
  #remember(op: KubeOp, method: string, out: unknown): void {
    if (op.name === undefined || op.namespace === undefined) return;
    const key = refKey(op.resource, op.namespace, op.name);
    this.#refs.delete(key);
    const meta = (out as { metadata?: RawMeta } | undefined)?.metadata;
    if (method === 'DELETE' || !meta?.uid) return;
    this.#refs.set(key, { uid: meta.uid, resourceVersion: meta.resourceVersion ?? '' });
    if (this.#refs.size > REFS_KEPT) this.#refs.delete(this.#refs.keys().next().value ?? '');
  }

  protected knownRef(resource: string, namespace: string, name: string): ObjectRef | undefined {
    return this.#refs.get(refKey(resource, namespace, name));
  }

  /** GET one object; undefined when it does not exist. */
  protected async getOne<T>(op: KubeOp, path: string, map: (raw: never) => T): Promise<T | undefined> {
    try {
      return map(await this.call<never>(op, { method: 'GET', path }));
    } catch (e) {
      if (isRotatorError(e, 'KUBE_NOT_FOUND')) return undefined;
      throw e;
    }
  }

  /** Every page of a list, reduced, in one array (for lists the caller needs whole). */
  protected async list<R>(
    op: KubeOp,
    path: string,
    query: Query,
    map: (item: never) => R | undefined,
  ): Promise<R[]> {
    const out: R[] = [];
    for await (const page of this.pages(op, path, query, map)) out.push(...page);
    return out;
  }

  /**
   * Follows `continue` tokens, yielding each page reduced to our types (or dropped items) before the next
   * is read. A continuation that expired (410: the snapshot was compacted while the caller worked on the
   * pages) goes on with the token the server offers, from a newer snapshot — still in key order, so a
   * caller that joins lists by namespace stays correct; objects changed meanwhile are seen as they are now.
   */
  protected async *pages<R>(
    op: KubeOp,
    path: string,
    query: Query,
    map: (item: never) => R | undefined,
  ): AsyncGenerator<R[]> {
    let cont: string | undefined;
    // Each item reduced as the answer brings it (KubeRest.list); a page tried again starts from nothing.
    const read = async (spec: RequestSpec) => {
      const items: R[] = [];
      const rest = await this.rest.list<RawList<never>>(spec, (item) => {
        const r = map(item as never);
        if (r !== undefined) items.push(r);
      });
      return { items, metadata: rest.metadata };
    };
    do {
      let page: { items: R[]; metadata: RawList<never>['metadata'] };
      try {
        page = await this.call(
          op,
          { method: 'GET', path, query: { ...query, limit: PAGE, continue: cont } },
          read,
        );
      } catch (e) {
        const next = isRotatorError(e, 'KUBE_CONFLICT') ? e.details['continue'] : undefined;
        if (cont === undefined || typeof next !== 'string' || next === '') throw e;
        this.log.info({ op: describeOp(op) }, 'list continuation expired; going on from a newer snapshot');
        cont = next;
        continue;
      }
      cont = page.metadata?.continue || undefined;
      yield page.items;
    } while (cont);
  }

  /**
   * A list over `scope` as a stream of chunks in storage order: cluster-wide pages (filtered to the scope)
   * when that is cheaper, else one chunk per namespace, read 8 ahead. A forbidden cluster-wide list falls
   * back to per-namespace reads; a forbidden namespace is a chunk that says so (the others go on).
   */
  protected async *scopedChunks<R extends { namespace: string }>(
    resource: string,
    scope: readonly string[],
    path: (namespace: string | undefined) => string,
    query: Query,
    map: (item: never) => R,
  ): AsyncGenerator<ListChunk<R>> {
    if (listClusterWide(scope.length, this.clusterNamespaces)) {
      const wanted = new Set(scope);
      const pick = (i: { metadata?: RawMeta }) =>
        wanted.has(i.metadata?.namespace ?? '') ? map(i as never) : undefined;
      let started = false;
      try {
        for await (const items of this.pages({ verb: 'list', resource }, path(undefined), query, pick)) {
          started = true;
          yield { items };
        }
        return;
      } catch (e) {
        if (started || !isRotatorError(e, 'KUBE_FORBIDDEN')) throw e;
        this.log.info({ resource }, 'cluster-wide list forbidden; listing per namespace');
      }
    }
    const read = async (ns: string): Promise<ListChunk<R>> => {
      try {
        return {
          items: await this.list({ verb: 'list', resource, namespace: ns }, path(ns), query, map),
          complete: ns,
        };
      } catch (e) {
        if (!isRotatorError(e, 'KUBE_FORBIDDEN')) throw e;
        return { items: [], complete: ns, unreadable: e };
      }
    };
    yield* ordered([...scope].sort(storageOrder), PER_NAMESPACE_CONCURRENCY, read);
  }

  /**
   * A whole list over `scope`: the chunks of scopedChunks collected (a namespace that may not be read fails
   * the list), or one cluster-wide list for 'all'.
   */
  protected async scoped<R extends { namespace: string }>(
    resource: string,
    scope: NamespaceScope,
    path: (namespace: string | undefined) => string,
    query: Query,
    map: (item: never) => R,
  ): Promise<R[]> {
    if (scope === 'all') return this.list({ verb: 'list', resource }, path(undefined), query, map);
    const out: R[] = [];
    for await (const c of this.scopedChunks(resource, scope, path, query, map)) {
      if (c.unreadable) throw c.unreadable;
      out.push(...c.items);
    }
    return out;
  }
}

const refKey = (resource: string, namespace: string, name: string): string =>
  `${resource}/${namespace}/${name}`;

function retryAfter(e: unknown): number | undefined {
  const v = (e as { details?: { retryAfterMs?: unknown } }).details?.retryAfterMs;
  return typeof v === 'number' ? v : undefined;
}
