import { isRotatorError, type RotatorError } from '../errors.ts';
import { withRetry } from '../net/retry.ts';
import type { Logger } from '../observability/logger.ts';
import type { KubeClients } from './client.ts';
import { mapKubeError, type KubeOp } from './errors.ts';
import type { NamespaceScope } from './gateway.ts';

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

export interface ListResult<T> {
  items: T[];
  metadata?: { _continue?: string | undefined } | undefined;
}

/** Requests made, by `verb resource` — the engine's own count (the API server's metrics are the judge). */
export type RequestCounts = Record<string, number>;

/**
 * The request machinery under the gateway: every client-node call gets retries (429/5xx/timeouts, honouring
 * Retry-After), error mapping, counting; lists get pagination and the cluster-wide vs per-namespace choice.
 */
export class KubeCaller {
  protected readonly k: KubeClients;
  protected readonly log: Logger;
  readonly counts: RequestCounts = {};
  /** Namespaces in the cluster, when known (see estimateNamespaceCount): guides listClusterWide. */
  clusterNamespaces: number | undefined;
  readonly #attempts: number;

  constructor(clients: KubeClients, logger: Logger, options: { attempts?: number } = {}) {
    this.k = clients;
    this.log = logger;
    this.#attempts = options.attempts ?? 5;
  }

  protected async call<T>(op: KubeOp, fn: () => Promise<T>): Promise<T> {
    return withRetry(
      async () => {
        const key = `${op.verb} ${op.resource}`;
        this.counts[key] = (this.counts[key] ?? 0) + 1;
        try {
          return await fn();
        } catch (e) {
          throw mapKubeError(e, op);
        }
      },
      {
        attempts: this.#attempts,
        baseMs: 250,
        maxMs: 8000,
        decide: (e) => ({
          retry: isRotatorError(e) && e.retryable,
          afterMs: retryAfter(e),
        }),
        onRetry: (e, attempt, delayMs) =>
          this.log.debug(
            {
              op: `${op.verb} ${op.resource}`,
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

  /** Follows `continue` tokens; each page is reduced to our types (or dropped) before the next is read. */
  protected async paginate<T, R>(
    op: KubeOp,
    page: (cont: string | undefined) => Promise<ListResult<T>>,
    map: (t: T) => R | undefined,
  ): Promise<R[]> {
    const out: R[] = [];
    let cont: string | undefined;
    do {
      const res = await this.call(op, () => page(cont));
      for (const item of res.items) {
        const r = map(item);
        if (r !== undefined) out.push(r);
      }
      cont = res.metadata?._continue || undefined;
    } while (cont);
    return out;
  }

  /** Cluster-wide (filtered locally) for many namespaces, per namespace for a few; per namespace on 403. */
  protected async scoped<T, R>(
    resource: string,
    scope: NamespaceScope,
    all: (cont: string | undefined) => Promise<ListResult<T>>,
    one: (ns: string, cont: string | undefined) => Promise<ListResult<T>>,
    nsOf: (t: T) => string,
    map: (t: T) => R,
  ): Promise<R[]> {
    if (scope === 'all' || listClusterWide(scope.length, this.clusterNamespaces)) {
      try {
        const wanted = scope === 'all' ? undefined : new Set(scope);
        return await this.paginate({ verb: 'list', resource }, all, (i) =>
          wanted && !wanted.has(nsOf(i)) ? undefined : map(i),
        );
      } catch (e) {
        if (scope === 'all' || !isRotatorError(e, 'KUBE_FORBIDDEN')) throw e;
        this.log.info({ resource }, 'cluster-wide list forbidden; listing per namespace');
      }
    }
    const out: R[] = [];
    const queue = [...scope];
    const worker = async (): Promise<void> => {
      for (let ns = queue.shift(); ns !== undefined; ns = queue.shift()) {
        const namespace = ns;
        out.push(
          ...(await this.paginate(
            { verb: 'list', resource, namespace },
            (cont) => one(namespace, cont),
            map,
          )),
        );
      }
    };
    await Promise.all(Array.from({ length: Math.min(PER_NAMESPACE_CONCURRENCY, queue.length) }, worker));
    return out;
  }
}

function retryAfter(e: unknown): number | undefined {
  const v = (e as { details?: { retryAfterMs?: unknown } }).details?.retryAfterMs;
  return typeof v === 'number' ? v : undefined;
}
