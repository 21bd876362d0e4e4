/**
 * An in-memory cluster at the engine's own seam (KubeGateway), for unit tests of the pure engine only.
 * It reproduces the API server behaviours the engine relies on — AlreadyExists on create, 409 on a stale
 * resourceVersion or uid precondition, NotFound — and lets a test stop the engine after any write.
 */
import { RotatorError } from '../../../src/errors.ts';
import {
  storageOrder,
  type KubeGateway,
  type ListChunk,
  type Listed,
  type NamespaceScope,
  type Watch,
  type Watched,
  type WatchEventType,
  type WatchHandlers,
  type WatchScope,
} from '../../../src/kube/gateway.ts';
import { isManaged, TARGET_LABEL } from '../../../src/kube/labels.ts';
import { matchesSelector, parseSelector } from '../../../src/kube/selector.ts';
import type {
  NamespaceObject,
  NewSecret,
  PodObject,
  PodState,
  SecretObject,
  SecretUpdate,
  ServiceAccountObject,
} from '../../../src/kube/types.ts';

export class Crash extends Error {
  constructor() {
    super('simulated crash');
  }
}

export class FakeCluster implements KubeGateway {
  namespaces = new Map<string, NamespaceObject>();
  secrets = new Map<string, SecretObject>();
  sas = new Map<string, ServiceAccountObject>();
  pods = new Map<string, PodObject>();
  /** Namespaces a namespaced read may not see (as in a namespaced-Role install): `chunks` says so. */
  unreadable = new Set<string>();
  /** Items per chunk of `chunks`. */
  chunkSize = 2;
  #rv = 100;
  #uid = 0;
  writes = 0;
  reads = 0;
  /** Reads by what was read (namespaces, secrets, serviceaccounts, pods). */
  readonly readsOf = new Map<string, number>();
  #read(what: string): void {
    this.reads++;
    this.readsOf.set(what, (this.readsOf.get(what) ?? 0) + 1);
  }
  /** Throw Crash before performing write number `crashBefore` (1-based). */
  crashBefore: number | undefined;
  /** Perform write number `loseResponseOf`, then throw as if the response was lost. */
  loseResponseOf: number | undefined;
  /** Called after every applied write, with the cluster in its new state. */
  afterWrite: ((c: FakeCluster) => void) | undefined;
  /** Called before every write; may mutate the cluster to simulate a concurrent writer. */
  beforeWrite: ((c: FakeCluster, n: number) => void) | undefined;

  static key = (ns: string, name: string) => `${ns}/${name}`;
  nextRv = () => String(++this.#rv);

  addNamespace(name: string, labels: Record<string, string> = {}, terminating = false): void {
    this.namespaces.set(name, { name, labels, terminating });
  }
  addSecret(
    s: Omit<SecretObject, 'uid' | 'resourceVersion' | 'createdAt'> & { createdAt?: Date },
  ): SecretObject {
    const full: SecretObject = {
      ...s,
      uid: `uid-${++this.#uid}`,
      resourceVersion: this.nextRv(),
      createdAt: s.createdAt ?? new Date(0),
    };
    this.secrets.set(FakeCluster.key(s.namespace, s.name), full);
    return full;
  }
  addSa(namespace: string, name: string, imagePullSecrets: string[] = []): ServiceAccountObject {
    const sa = {
      namespace,
      name,
      uid: `uid-${++this.#uid}`,
      resourceVersion: this.nextRv(),
      imagePullSecrets,
    };
    this.sas.set(FakeCluster.key(namespace, name), sa);
    return sa;
  }
  /** A pod created under a ServiceAccount gets its pull secrets copied at creation (F2). */
  addPodUnder(namespace: string, name: string, saName: string, phase = 'Running'): PodObject {
    const sa = this.sas.get(FakeCluster.key(namespace, saName));
    const pod = {
      namespace,
      name,
      phase,
      serviceAccountName: saName,
      imagePullSecrets: [...(sa?.imagePullSecrets ?? [])],
      images: ['registry.example/app:1'],
      createdAt: new Date(0),
    };
    this.pods.set(FakeCluster.key(namespace, name), pod);
    return pod;
  }

  readonly #watches = new Set<FakeWatch>();

  /**
   * Watches at the gateway seam: `run` lists what the scope covers (one page), then delivers the events of
   * the fake's own writes and those a test sends with `notify`, until its signal aborts.
   */
  watch<K extends keyof Watched>(kind: K, scope: WatchScope, handlers: WatchHandlers<Watched[K]>): Watch {
    const all = this.#watches;
    const view = () => this.#view(kind, scope);
    const w: FakeWatch = {
      kind,
      scope,
      handlers: handlers,
      relists: 0,
      reconnects: 0,
      relist() {
        w.relists++;
        handlers.page(view(), true);
        handlers.state?.(true, 'listed');
      },
      async run(signal) {
        all.add(w);
        w.relist();
        await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
        all.delete(w);
      },
    };
    return w;
  }

  /**
   * What the API server's watches send when `o` changes (the fake's own writes send theirs). A DELETED
   * goes to every watch of the kind: an object leaving a selector's view is reported deleted, as it is now.
   */
  notify<K extends keyof Watched>(kind: K, type: WatchEventType, o: Watched[K]): void {
    for (const w of this.#watches)
      if (w.kind === kind && (type === 'DELETED' || matches(kind, w.scope, o)))
        w.handlers.event(type, clone(o));
  }

  /** Every watch of `kind` lists again (as after a 410 Gone). */
  relist(kind: keyof Watched): void {
    for (const w of this.#watches) if (w.kind === kind) w.relist();
  }

  #view<K extends keyof Watched>(kind: K, scope: WatchScope): Watched[K][] {
    // Pods: the fake keeps the engine's PodObjects; a test of the pod watch sends PodStates with notify.
    if (kind === 'pods') return [];
    const source: Watched[keyof Watched][] = [
      ...(kind === 'namespaces' ? this.namespaces : kind === 'secrets' ? this.secrets : this.sas).values(),
    ];
    return source.filter((o) => matches(kind, scope, o)).map(clone) as Watched[K][];
  }

  #write<T>(fn: () => T): T {
    const n = this.writes + 1;
    this.beforeWrite?.(this, n);
    if (this.crashBefore !== undefined && n >= this.crashBefore) throw new Crash();
    this.writes = n;
    const r = fn();
    this.afterWrite?.(this);
    if (this.loseResponseOf === n)
      throw new RotatorError('KUBE_TIMEOUT', 'response lost', { retryable: true });
    return r;
  }
  #inScope = (scope: NamespaceScope, ns: string) => scope === 'all' || scope.includes(ns);

  async listNamespaces(labelSelector?: string) {
    this.#read('namespaces');
    const sel = parseSelector(labelSelector ?? '');
    return [...this.namespaces.values()].filter((n) => matchesSelector(sel, n.labels)).map((n) => ({ ...n }));
  }
  async getNamespace(name: string) {
    this.#read('namespaces');
    const n = this.namespaces.get(name);
    return n ? { ...n } : undefined;
  }
  async listManagedSecrets(scope: NamespaceScope, targets?: readonly string[]) {
    this.#read('secrets');
    return [...this.secrets.values()]
      .filter((s) => isManaged(s.labels) && this.#inScope(scope, s.namespace))
      .filter((s) => !targets?.length || targets.includes(s.labels[TARGET_LABEL] ?? ''))
      .map(clone);
  }
  async listServiceAccounts(scope: NamespaceScope) {
    this.#read('serviceaccounts');
    return [...this.sas.values()].filter((s) => this.#inScope(scope, s.namespace)).map(clone);
  }
  async listPods(scope: NamespaceScope) {
    this.#read('pods');
    return [...this.pods.values()].filter((p) => this.#inScope(scope, p.namespace)).map(clone);
  }
  /**
   * Streams like the real gateway: items in storage order (namespace + "/", then name) in chunks of
   * `chunkSize` — small, so tests cross chunk boundaries inside and between namespaces. When a namespace
   * of the scope is `unreadable` it reads per namespace, as the real one does when a list is forbidden.
   */
  async *chunks<K extends keyof Listed>(
    kind: K,
    scope: readonly string[],
    targets?: readonly string[],
  ): AsyncGenerator<ListChunk<Listed[K]>> {
    const read = async (s: readonly string[]): Promise<Listed[K][]> =>
      (kind === 'secrets'
        ? await this.listManagedSecrets(s, targets)
        : kind === 'serviceaccounts'
          ? await this.listServiceAccounts(s)
          : await this.listPods(s)) as Listed[K][];
    const order = (a: Listed[K], b: Listed[K]) =>
      storageOrder(a.namespace, b.namespace) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    if (scope.some((ns) => this.unreadable.has(ns))) {
      for (const ns of [...scope].sort(storageOrder)) {
        if (this.unreadable.has(ns))
          yield {
            items: [],
            complete: ns,
            unreadable: new RotatorError('KUBE_FORBIDDEN', `${kind} in ${ns} is forbidden`),
          };
        else yield { items: (await read([ns])).sort(order), complete: ns };
      }
      return;
    }
    // Copies are made chunk by chunk, as a real list's pages are parsed: the fake holds no list of its own.
    const inScope = new Set(scope);
    const source: Listed[K][] = (
      kind === 'secrets'
        ? [...this.secrets.values()].filter(
            (s) =>
              isManaged(s.labels) && (!targets?.length || targets.includes(s.labels[TARGET_LABEL] ?? '')),
          )
        : [...(kind === 'serviceaccounts' ? this.sas : this.pods).values()]
    ).filter((o) => inScope.has(o.namespace)) as Listed[K][];
    source.sort(order);
    this.#read(kind);
    for (let i = 0; i < source.length; i += this.chunkSize)
      yield { items: source.slice(i, i + this.chunkSize).map(clone) };
  }
  async getSecret(ns: string, name: string) {
    this.#read('secrets');
    const s = this.secrets.get(FakeCluster.key(ns, name));
    return s ? clone(s) : undefined;
  }
  async getServiceAccount(ns: string, name: string) {
    this.#read('serviceaccounts');
    const s = this.sas.get(FakeCluster.key(ns, name));
    return s ? clone(s) : undefined;
  }
  async createSecret(s: NewSecret) {
    return this.#write(() => {
      const k = FakeCluster.key(s.namespace, s.name);
      if (this.secrets.has(k)) throw new RotatorError('KUBE_ALREADY_EXISTS', `secret ${k} already exists`);
      if (this.namespaces.get(s.namespace)?.terminating)
        throw new RotatorError('KUBE_FORBIDDEN', `namespace ${s.namespace} is terminating`);
      const full: SecretObject = {
        ...s,
        type: 'kubernetes.io/dockerconfigjson',
        uid: `uid-${++this.#uid}`,
        resourceVersion: this.nextRv(),
        immutable: false,
        createdAt: new Date(),
      };
      this.secrets.set(k, full);
      this.notify('secrets', 'ADDED', full);
      return clone(full);
    });
  }
  async updateSecret(ns: string, name: string, rv: string, u: SecretUpdate) {
    return this.#write(() => {
      const k = FakeCluster.key(ns, name);
      const cur = this.secrets.get(k);
      if (!cur) throw new RotatorError('KUBE_NOT_FOUND', `secret ${k} not found`);
      if (cur.resourceVersion !== rv) throw new RotatorError('KUBE_CONFLICT', `secret ${k} changed`);
      const next = {
        ...cur,
        data: { ...u.data },
        annotations: { ...cur.annotations, ...u.annotations },
        resourceVersion: this.nextRv(),
      };
      this.secrets.set(k, next);
      this.notify('secrets', 'MODIFIED', next);
      return clone(next);
    });
  }
  async deleteSecret(ns: string, name: string, uid: string, rv: string) {
    this.#write(() => {
      const k = FakeCluster.key(ns, name);
      const cur = this.secrets.get(k);
      if (!cur) throw new RotatorError('KUBE_NOT_FOUND', `secret ${k} not found`);
      if (cur.uid !== uid || cur.resourceVersion !== rv)
        throw new RotatorError('KUBE_CONFLICT', `secret ${k} precondition failed`);
      this.secrets.delete(k);
      this.notify('secrets', 'DELETED', cur);
    });
  }
  async setImagePullSecrets(ns: string, name: string, rv: string, names: readonly string[]) {
    return this.#write(() => {
      const k = FakeCluster.key(ns, name);
      const cur = this.sas.get(k);
      if (!cur) throw new RotatorError('KUBE_NOT_FOUND', `serviceaccount ${k} not found`);
      if (cur.resourceVersion !== rv) throw new RotatorError('KUBE_CONFLICT', `serviceaccount ${k} changed`);
      const next = { ...cur, imagePullSecrets: [...names], resourceVersion: this.nextRv() };
      this.sas.set(k, next);
      this.notify('serviceaccounts', 'MODIFIED', next);
      return clone(next);
    });
  }
}

function clone<T>(o: T): T {
  return structuredClone(o);
}

interface FakeWatch extends Watch {
  kind: keyof Watched;
  scope: WatchScope;
  handlers: WatchHandlers<Watched[keyof Watched]>;
  relists: number;
  reconnects: number;
  relist(): void;
}

/** Whether a watch of `kind` over `scope` sees `o`, as the API server filters it. */
function matches(kind: keyof Watched, scope: WatchScope, o: Watched[keyof Watched]): boolean {
  if (kind === 'namespaces') {
    const n = o as NamespaceObject;
    if (scope.name !== undefined && n.name !== scope.name) return false;
    return matchesSelector(parseSelector(scope.labelSelector ?? ''), n.labels);
  }
  const x = o as SecretObject | ServiceAccountObject | PodState;
  if (scope.namespace !== undefined && x.namespace !== scope.namespace) return false;
  if (kind === 'pods') return scope.phase === undefined || (x as PodState).phase === scope.phase;
  if (kind !== 'secrets') return true;
  const labels = (x as SecretObject).labels;
  return isManaged(labels) && (!scope.targets?.length || scope.targets.includes(labels[TARGET_LABEL] ?? ''));
}
