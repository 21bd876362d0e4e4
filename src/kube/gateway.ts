import type { RotatorError } from '../errors.ts';
import type {
  NamespaceObject,
  NewSecret,
  PodObject,
  PodState,
  SecretObject,
  SecretUpdate,
  ServiceAccountObject,
} from './types.ts';

/** Which namespaces a list covers. */
export type NamespaceScope = readonly string[] | 'all';

/** The objects a run streams, by the name of their list. */
export interface Listed {
  secrets: SecretObject;
  serviceaccounts: ServiceAccountObject;
  pods: PodObject;
}

/**
 * A piece of a streamed list. Items arrive in storage order (see storageOrder). A per-namespace read
 * yields one chunk per namespace and says so in `complete` (then an empty chunk still proves the
 * namespace has none); `unreadable` says that namespace may not be read.
 */
export interface ListChunk<T> {
  items: T[];
  complete?: string | undefined;
  unreadable?: RotatorError | undefined;
}

/**
 * The API server stores namespaced objects under `<namespace>/<name>` and lists them in that key order
 * (pagination continues from the last key), so a cluster-wide list passes namespace by namespace in the
 * order of `namespace + "/"` — which is not plain name order: `team-a/` sorts before `team/`.
 */
export const storageKey = (namespace: string): string => `${namespace}/`;
export const storageOrder = (a: string, b: string): number => {
  const ka = storageKey(a);
  const kb = storageKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
};

/** The objects a watch reports, by the name of their resource. */
export interface Watched {
  namespaces: NamespaceObject;
  serviceaccounts: ServiceAccountObject;
  secrets: SecretObject;
  pods: PodState;
}

/** What one watch covers. */
export interface WatchScope {
  /** Only this namespace's objects (absent: cluster-wide). */
  namespace?: string | undefined;
  /** `namespaces`: only those this label selector matches (a target's selector)… */
  labelSelector?: string | undefined;
  /** …or only the one of this name. */
  name?: string | undefined;
  /** `secrets`: always ours only (the managed label), and only these targets' when given. */
  targets?: readonly string[] | undefined;
  /** `pods`: only those in this phase (the healer watches `Pending`: a pod leaving it is DELETED). */
  phase?: string | undefined;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface WatchHandlers<T> {
  /**
   * The full current state, a page at a time (`last` on the final one): at start, and after the server
   * forgot our place (410 Gone). An object that stops matching the scope's selector is DELETED.
   */
  page(items: T[], last: boolean): void;
  event(type: WatchEventType, object: T): void;
  /** Connection state, for metrics and health. */
  state?(up: boolean, reason: string): void;
}

/** A watch: lists, then follows changes until `signal` aborts (resuming after drops). */
export interface Watch {
  run(signal: AbortSignal): Promise<void>;
  /** Lists made (1 + one per 410), and connections lost. */
  readonly relists: number;
  readonly reconnects: number;
}

/**
 * The cluster operations the engine needs, in our own types. The real implementation (k8s-gateway.ts)
 * speaks the API server's REST protocol directly (rest.ts); unit tests of the engine use an in-memory one
 * at this seam.
 *
 * Errors are `RotatorError`s: KUBE_NOT_FOUND, KUBE_ALREADY_EXISTS (create of an existing name),
 * KUBE_CONFLICT (a resourceVersion/uid precondition failed), KUBE_FORBIDDEN, KUBE_INVALID,
 * KUBE_UNAVAILABLE / KUBE_TIMEOUT (after retries).
 */
export interface KubeGateway {
  /** Namespaces, filtered by the server when a label selector is given. */
  listNamespaces(labelSelector?: string): Promise<NamespaceObject[]>;
  getNamespace(name: string): Promise<NamespaceObject | undefined>;
  /** Optional: learn the cluster's size so lists can choose cluster-wide vs per namespace. */
  estimateNamespaceCount?(): Promise<number | undefined>;
  /** Secrets labelled as ours in the scope: of the given targets, or of every target. */
  listManagedSecrets(scope: NamespaceScope, targets?: readonly string[]): Promise<SecretObject[]>;
  listServiceAccounts(scope: NamespaceScope): Promise<ServiceAccountObject[]>;
  listPods(scope: NamespaceScope): Promise<PodObject[]>;
  /**
   * One of the lists above for many namespaces, as it arrives, in storage order: the run converges each
   * namespace as soon as its lists have passed it, so memory holds a page, not the cluster. `targets`
   * narrows `secrets` like listManagedSecrets. Reading the next chunk is what fetches the next page.
   */
  chunks<K extends keyof Listed>(
    kind: K,
    scope: readonly string[],
    targets?: readonly string[],
  ): AsyncIterable<ListChunk<Listed[K]>>;
  getSecret(namespace: string, name: string): Promise<SecretObject | undefined>;
  getServiceAccount(namespace: string, name: string): Promise<ServiceAccountObject | undefined>;
  createSecret(secret: NewSecret): Promise<SecretObject>;
  /** Replaces data and sets annotations, only if the Secret is still at `resourceVersion`. */
  updateSecret(
    namespace: string,
    name: string,
    resourceVersion: string,
    update: SecretUpdate,
  ): Promise<SecretObject>;
  /** Deletes only if uid and resourceVersion still match (proof of ownership, no lost update). */
  deleteSecret(namespace: string, name: string, uid: string, resourceVersion: string): Promise<void>;
  /** Writes the whole `imagePullSecrets` list, only if the ServiceAccount is still at `resourceVersion`. */
  setImagePullSecrets(
    namespace: string,
    name: string,
    resourceVersion: string,
    names: readonly string[],
  ): Promise<ServiceAccountObject>;
  /** Follows one kind of object in `scope` (scheduler mode): nothing is read until the watch runs. */
  watch<K extends keyof Watched>(kind: K, scope: WatchScope, handlers: WatchHandlers<Watched[K]>): Watch;
}

/** A coordination.k8s.io/v1 Lease, reduced to what the run lock uses. */
export interface LeaseRecord {
  resourceVersion: string;
  holderIdentity: string;
  leaseDurationSeconds: number;
  renewTime: Date | undefined;
  acquireTime: Date | undefined;
  leaseTransitions: number;
  uid: string;
  /**
   * The targets this install has managed (the run lock's Lease is the install's identity): recorded at every
   * run that writes, so `prune` knows which removed targets are its own to clean up.
   */
  targets: string[];
}

export type LeaseSpec = Omit<LeaseRecord, 'resourceVersion' | 'uid'>;

export interface LeaseGateway {
  getLease(namespace: string, name: string): Promise<LeaseRecord | undefined>;
  /** KUBE_ALREADY_EXISTS when someone created it first. */
  createLease(namespace: string, name: string, spec: LeaseSpec): Promise<LeaseRecord>;
  /** KUBE_CONFLICT when the Lease changed since `resourceVersion`. */
  updateLease(
    namespace: string,
    name: string,
    resourceVersion: string,
    spec: LeaseSpec,
  ): Promise<LeaseRecord>;
}

export interface EventInput {
  namespace: string;
  involved: {
    kind: string;
    name: string;
    namespace?: string | undefined;
    uid?: string | undefined;
    apiVersion: string;
  };
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface EventRecord {
  namespace: string;
  involvedKind: string;
  involvedName: string;
  type: string;
  reason: string;
  message: string;
  count: number;
  lastSeen: Date | undefined;
}

export interface EventGateway {
  createEvent(e: EventInput): Promise<void>;
  listEvents(namespace: string): Promise<EventRecord[]>;
}

/** Read-only views for `doctor` and `status --all-secrets`. */
export interface InspectGateway {
  listSecretsIn(namespace: string): Promise<SecretObject[]>;
  listPullSecretsEverywhere(): Promise<SecretObject[]>;
}
