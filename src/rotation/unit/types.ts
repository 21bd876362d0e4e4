import type { Sensitive } from '../../base/sensitive.ts';
import type { KubeGateway } from '../../kube/gateway.ts';
import type { PodObject, SecretObject, ServiceAccountObject } from '../../kube/types.ts';

/** What one target wants in every namespace it covers. */
export interface DesiredSecret {
  target: string;
  strategy: 'swap' | 'in-place';
  /** The name to converge to: `<secretName>-<revisionId>` (swap) or `<secretName>` (in-place). */
  name: string;
  revisionId: string;
  /** The source revision as shown to people: the store's version, or `r-<revisionId>` (never a secret). */
  revision: string;
  /** Base64 of the exact .dockerconfigjson bytes, as the Secret's data holds it. */
  dataB64: Sensitive;
  /** Annotations describing the source (never the value); `rotated-at` is added at write time. */
  annotations: Record<string, string>;
  /** ServiceAccount names to point at the secret, or `*` for all. */
  serviceAccounts: readonly string[] | '*';
}

export interface RetentionPolicy {
  retainSupersededMs: number;
  /**
   * How long caches get to catch up with a repoint before pods are read to decide a deletion: the API
   * server fills a new pod's imagePullSecrets from a cached copy of its ServiceAccount, so a pod created
   * just after a repoint can still list the old secret (`rotation.settleSeconds`).
   */
  settleMs: number;
  waitForPods: boolean;
  refreshSuperseded: boolean;
}

/** What the engine knows about one namespace; updated in place as actions succeed. */
export interface NamespaceState {
  namespace: string;
  /** Managed secrets (every target) by name. */
  secrets: Map<string, SecretObject>;
  serviceAccounts: Map<string, ServiceAccountObject>;
  /** Undefined until loaded: pods are only read when a deletion depends on them. */
  pods: PodObject[] | undefined;
  /**
   * Pods read when the convergence began, for the names they list only (an earlier name of ours that is
   * missing is created again): never for a deletion, which waits for `pods` read after the settle time.
   */
  podsAtStart?: PodObject[] | undefined;
  /**
   * Names of ours that pods list but that exist as someone else's Secret (found on a create): never
   * created again in this convergence.
   */
  foreign?: Set<string> | undefined;
  /** Pods read before this time (epoch ms) may miss one admitted with a ServiceAccount list from before our repoint. */
  podsNotBefore?: number | undefined;
}

export type Action =
  /**
   * `forPod`: not the desired secret but an earlier name of ours that a live pod lists and that is not there
   * (any more), created with the desired data so the pod pulls (plan.ts, reviveSteps); the name of one such pod.
   */
  | { kind: 'create'; name: string; forPod?: string | undefined }
  | { kind: 'update-data'; name: string; resourceVersion: string; why: 'in-place' | 'refresh' | 'repair' }
  | {
      kind: 'repoint';
      serviceAccount: string;
      resourceVersion: string;
      from: readonly string[];
      to: readonly string[];
    }
  | { kind: 'delete'; name: string; uid: string; resourceVersion: string };

export interface Kept {
  name: string;
  reason: string;
  /** Whether it holds the desired data (refreshed): one that does not still holds a superseded credential. */
  current: boolean;
}

export interface Plan {
  actions: Action[];
  /** Superseded secrets that stay, and why. */
  kept: Kept[];
  notes: string[];
  /** Set when the namespace cannot converge without a human (a foreign object in the way). */
  blocked?: string | undefined;
  /**
   * An observation the plan lacks: whether a superseded secret may go depends on the namespace's pods,
   * which are read only when a deletion depends on them. Observe them (after this plan's actions) and plan again.
   */
  needs?: 'pods' | undefined;
  /** With `needs: 'pods'`: the earliest time (epoch ms) a pod listing can decide (settle after the rotation). */
  podsNotBefore?: number | undefined;
  /**
   * When data that pods here pull with last changed under a name that already existed (epoch ms): the
   * in-place secret's last update, a kept superseded secret's refresh. Nodes may hold the old data for
   * the settle time after it.
   */
  dataChangedAt?: number | undefined;
}

export interface ApplyDeps {
  gateway: KubeGateway;
  now: () => Date;
  dryRun: boolean;
  /**
   * Observes the namespace's pods when a plan needs them (a deletion depends on them). Absent, `converge`
   * stops there and reports the need: the batch run then lists pods for all such namespaces at once.
   */
  pods?: ((namespace: string) => Promise<PodObject[]>) | undefined;
  /** Checked between actions: a stop request ends the loop at a consistent point. */
  signal?: AbortSignal | undefined;
  /** Awaited before every write (not in dry runs): where the run takes its lock, lazily. */
  beforeWrite?: (() => Promise<void>) | undefined;
}

export interface ActionRecord {
  action: Action;
  /** `ok`, or `conflict` when a precondition failed and the engine re-read and re-planned. */
  result: 'ok' | 'conflict' | 'gone';
  /** When it was done (epoch ms, the run's clock): the final settle wait counts from the last data change. */
  at: number;
}
