import type { Config } from '../config/types.ts';
import type { KubeGateway, Watch, WatchHandlers } from '../kube/gateway.ts';
import type { NamespaceObject, PodState, SecretObject } from '../kube/types.ts';
import type { Logger } from '../base/logger.ts';
import { observeAndConverge, retentionOf } from '../rotation/unit/converge.ts';
import type { NamespaceHooks } from '../rotation/unit/converge.ts';
import type { NamespaceResult } from '../rotation/unit/result.ts';
import { earlierNames } from '../rotation/unit/naming.ts';
import type { DesiredSecret } from '../rotation/unit/types.ts';
import { Limiter } from '../base/pool.ts';
import { backoffMs, type Backoff } from '../base/retry.ts';
import { DriftModel } from './drift.ts';
import { perNamespaceScope, watchPlan, type WatchSpec } from './watches.ts';

/** Backoff of a failed convergence: 1 s, 2 s, 4 s, … up to 5 minutes. */
const RETRY: Backoff = { baseMs: 1000, maxMs: 300_000 };
/** A bound on the pods remembered by podSeen (a burst of new pods in a rotation window): past it, it starts over. */
const MAX_PODS_SEEN = 10_000;

export interface ReactorDeps {
  config: Config;
  gateway: KubeGateway;
  logger: Logger;
  hooks?: NamespaceHooks | undefined;
  /** Awaited before a write: the run lock. */
  beforeWrite: () => Promise<void>;
  /** Called when the queue has drained (the lock can be given back). */
  idle: () => Promise<void>;
  /** Event received → namespace converged: the lag, why it was queued, what the convergence did. */
  converged?: (namespace: string, lagSeconds: number, kinds: DriftKind[], results: NamespaceResult[]) => void;
  watchState?: (resource: string, up: boolean) => void;
  /** `-n/--namespace`: the only namespaces to react in. */
  only?: readonly string[] | undefined;
}

/** Why the watch queued a namespace: what drifted. */
export type DriftKind =
  | 'namespace'
  | 'serviceaccount'
  | 'secret-deleted'
  | 'secret-edited'
  | 'resync'
  /** A pod lists an earlier name of ours (it may be missing): converged with the pods read first. */
  | 'pod';

/**
 * Scheduler mode's reaction to the cluster: watches Namespaces, ServiceAccounts and our Secrets, and
 * converges a namespace as soon as something there can need it — a namespace that starts matching, a new
 * selected ServiceAccount, our entry removed from a ServiceAccount, our secret deleted or edited. Events are
 * de-duplicated per namespace and converged with the batch run's unit and concurrency; credentials come
 * from the last full pass (the store is not read per event).
 */
export class Reactor {
  readonly #d: ReactorDeps;
  readonly model: DriftModel;
  /** Namespaces to converge: when the first event arrived, and every reason since. */
  readonly #queue = new Map<string, { at: number; kinds: Set<DriftKind> }>();
  /** Convergences running now (not those waiting for a full pass to finish). */
  #active = 0;
  #paused: Promise<void> | undefined;
  readonly #workers: Limiter;
  watches: Watch[] = [];
  #sources: string[] = [];

  constructor(deps: ReactorDeps) {
    this.#d = deps;
    this.#workers = new Limiter(deps.config.rotation.concurrency);
    this.model = new DriftModel(deps.config.targets, perNamespaceScope(deps.config) !== undefined);
  }

  /**
   * A full pass knows what each target wants. Converges what the pass could not have seen: namespaces with
   * events before it, and namespaces the namespace watch knows that the pass's own listing did not have
   * (created between the two).
   */
  setDesired(desired: readonly DesiredSecret[], observed: ReadonlySet<string>): void {
    this.model.setDesired(desired);
    this.#observed = observed;
    for (const ns of this.#early) if (this.model.covering(ns).length > 0) this.enqueue(ns, 'resync');
    this.#early.clear();
    for (const ns of this.model.namespaces.keys())
      if (!observed.has(ns) && this.model.covering(ns).length > 0) this.enqueue(ns, 'namespace');
  }

  /** Namespaces that saw events before the first full pass finished. */
  readonly #early = new Set<string>();
  /** The namespaces the last full pass observed. */
  #observed: ReadonlySet<string> = new Set();

  /** Enqueues `ns` when `needsWork` says so; before the first pass, remembers it for later. */
  #consider(ns: string, kind: DriftKind, needsWork: () => boolean): void {
    if (!this.model.ready) this.#early.add(ns);
    else if (needsWork()) this.enqueue(ns, kind);
  }

  /**
   * Stops reacting: nothing queued starts any more, and the convergences in flight (how many: the result)
   * finish, each a few writes — a SIGTERM leaves no namespace half done.
   */
  async drain(): Promise<number> {
    const inFlight = this.#active;
    this.#queue.clear();

    while (this.#active > 0) await new Promise((r) => setTimeout(r, 50));
    return inFlight;
  }

  /** Holds event processing while `fn` runs (a full pass): the two never write at the same time. */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    let release = () => {};
    this.#paused = new Promise((r) => (release = r));
    while (this.#active > 0) await new Promise((r) => setTimeout(r, 50));
    try {
      return await fn();
    } finally {
      this.#paused = undefined;
      release();
    }
  }

  start(signal: AbortSignal): Promise<void>[] {
    const plan = watchPlan(this.#d.config);
    this.#sources = plan.map((spec) => spec.source);
    this.watches = plan.map((spec) => this.#watch(spec));
    return this.watches.map((w) => w.run(signal));
  }

  /**
   * The watches that have shown no sign of life for `metrics.stuckWatchSeconds` (hung, or failing to
   * reconnect): the scheduler cannot react to anything they follow, so /healthz says unhealthy.
   */
  stuckWatches(now = Date.now()): { watch: string; silentSeconds: number }[] {
    const limit = this.#d.config.metrics.stuckWatchSeconds * 1000;
    return this.watches.flatMap((w, i) =>
      now - w.lastActivity >= limit
        ? [{ watch: this.#sources[i] ?? String(i), silentSeconds: Math.round((now - w.lastActivity) / 1000) }]
        : [],
    );
  }

  /** One watch of the plan, feeding the model: lists (on start and every relist) and events. */
  #watch(spec: WatchSpec): Watch {
    const g = this.#d.gateway;
    const state = (up: boolean) => this.#d.watchState?.(spec.kind, up);
    const options = { stuckAfterMs: this.#d.config.metrics.stuckWatchSeconds * 1000 };
    switch (spec.kind) {
      case 'namespaces':
        return g.watch('namespaces', spec.scope, { ...this.#namespaces(spec.source), state }, options);
      case 'serviceaccounts':
        return g.watch(
          'serviceaccounts',
          spec.scope,
          {
            page: (items) => this.#enqueueAll(this.model.serviceAccountsDrifted(items), 'relist'),
            event: (type, sa) => {
              if (type !== 'DELETED')
                this.#consider(sa.namespace, 'serviceaccount', () => this.model.serviceAccountDrifted(sa));
            },
            state,
          },
          options,
        );
      case 'secrets':
        return g.watch(
          'secrets',
          spec.scope,
          {
            ...whole<SecretObject>((all) =>
              this.#enqueueAll(this.model.secretsDrifted(all, spec.scope.namespace), 'relist'),
            ),
            event: (type, s) => {
              if (type !== 'ADDED')
                this.#consider(s.namespace, type === 'DELETED' ? 'secret-deleted' : 'secret-edited', () =>
                  this.model.secretDrifted(s, type === 'DELETED'),
                );
            },
            state,
          },
          options,
        );
    }
  }

  /** A Namespace watch's handlers: what it shows joins the model (see DriftModel.listedBy). */
  #namespaces(source: string): Omit<WatchHandlers<NamespaceObject>, 'state'> {
    return {
      ...whole<NamespaceObject>((items) => {
        const before = new Set(
          [...this.model.namespaces.keys()].filter((ns) => this.model.covering(ns).length > 0),
        );
        this.model.listedBy(source, items);
        for (const n of items) {
          const seen = before.has(n.name) || this.#observed.has(n.name);
          if (!seen && this.model.covering(n.name).length > 0) this.enqueue(n.name, 'namespace');
        }
      }),
      event: (type, n) => {
        if (type === 'DELETED') {
          this.model.goneFrom(source, n.name);
          return;
        }
        const was = this.model.coveringTargets(n.name);
        this.model.seenBy(source, n);
        this.#consider(n.name, 'namespace', () => {
          const now = this.model.coveringTargets(n.name);
          return now !== '' && now !== was;
        });
      },
    };
  }

  #enqueueAll(namespaces: Iterable<string>, why: string): void {
    let n = 0;
    for (const ns of namespaces) {
      this.enqueue(ns, 'resync');
      n++;
    }
    if (n > 0) this.#d.logger.info({ namespaces: n, why }, 'namespaces to converge after a watch resync');
  }

  /** Pods already queued for the earlier name they list (one convergence per pod; forgotten when it goes). */
  readonly #podsSeen = new Set<string>();

  /**
   * A pod from the pod watch (Pending: not yet pulled, or failing to). When it lists an earlier name of a
   * covering target's — admitted with a name a rotation was replacing — its namespace is converged with its
   * pods, which creates that name again if it is missing (rotation/unit/plan.ts, reviveSteps).
   */
  podSeen(type: string, pod: PodState): void {
    if (type === 'DELETED') {
      this.#podsSeen.delete(pod.uid);
      return;
    }
    if (pod.deleting || !this.model.ready || this.#podsSeen.has(pod.uid)) return;
    const lists = this.model
      .covering(pod.namespace)
      .some((d) => earlierNames(d, pod.imagePullSecrets).length > 0);
    if (!lists) return;
    if (this.#podsSeen.size >= MAX_PODS_SEEN) this.#podsSeen.clear();
    this.#podsSeen.add(pod.uid);
    this.enqueue(pod.namespace, 'pod');
  }

  /** Converge `ns` soon; a namespace already queued keeps its first event time and gains the reason. */
  enqueue(namespace: string, kind: DriftKind, at = performance.now()): void {
    if (this.#d.only && !this.#d.only.includes(namespace)) return;
    const q = this.#queue.get(namespace);
    if (q) {
      q.kinds.add(kind);
      return;
    }
    this.#queue.set(namespace, { at, kinds: new Set([kind]) });
    void this.#workers.run(() => this.#next(namespace));
  }

  /** Failed convergences per namespace: retried with backoff until one succeeds or a pass takes over. */
  readonly #failures = new Map<string, number>();

  #retryLater(ns: string, at: number, kinds: DriftKind[]): void {
    const n = (this.#failures.get(ns) ?? 0) + 1;
    this.#failures.set(ns, n);
    const delayMs = backoffMs(n, RETRY);
    this.#d.logger.warn(
      { namespace: ns, attempt: n, retryInMs: delayMs },
      'reacting to a change failed; retrying',
    );
    setTimeout(() => {
      for (const k of kinds) this.enqueue(ns, k, at);
    }, delayMs).unref();
  }

  /** A worker's turn for `ns`: after any full pass, with every reason gathered while it waited. */
  async #next(ns: string): Promise<void> {
    while (this.#paused) await this.#paused;
    const q = this.#queue.get(ns);
    this.#queue.delete(ns);
    if (!q) return;
    this.#active++;
    try {
      await this.#converge(ns, q.at, [...q.kinds]);
    } finally {
      this.#active--;
      if (this.#workers.active === 1 && this.#queue.size === 0) void this.#d.idle();
    }
  }

  async #converge(ns: string, at: number, kinds: DriftKind[]): Promise<void> {
    const desired = this.model.covering(ns);
    if (desired.length === 0) return;
    const g = this.#d.gateway;
    try {
      const results = await observeAndConverge(
        ns,
        desired,
        {
          gateway: g,
          now: () => new Date(),
          dryRun: false,
          pods: (n) => g.listPods([n]),
          beforeWrite: this.#d.beforeWrite,
          retention: retentionOf(this.#d.config.rotation),
          logger: this.#d.logger,
          hooks: this.#d.hooks,
        },
        { podsAtStart: kinds.includes('pod') },
      );
      this.#d.converged?.(ns, (performance.now() - at) / 1000, kinds, results);
      if (results.some((r) => r.outcome === 'failed')) this.#retryLater(ns, at, kinds);
      else this.#failures.delete(ns);
    } catch (e) {
      this.#d.logger.error({ namespace: ns, err: (e as Error).message }, 'reacting to a change failed');
      this.#retryLater(ns, at, kinds);
    }
  }
}

/** Handlers that hand over a list once whole: its pages gathered (for lists that must be seen whole). */
function whole<T>(listed: (items: T[]) => void): Pick<WatchHandlers<T>, 'page'> {
  let pages: T[] = [];
  return {
    page: (items, last) => {
      pages.push(...items);
      if (!last) return;
      const all = pages;
      pages = [];
      listed(all);
    },
  };
}
