/** The few Kubernetes objects the engine works with, reduced to the fields it uses. */
export interface NamespaceObject {
  name: string;
  /** Absent where the namespace was not read (named but not readable). */
  uid?: string | undefined;
  labels: Record<string, string>;
  terminating: boolean;
}

export interface SecretObject {
  namespace: string;
  name: string;
  uid: string;
  resourceVersion: string;
  type: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Base64 values, as on the wire. */
  data: Record<string, string>;
  immutable: boolean;
  createdAt: Date | undefined;
}

export interface ServiceAccountObject {
  namespace: string;
  name: string;
  uid: string;
  resourceVersion: string;
  /** Names in `imagePullSecrets`, in order. */
  imagePullSecrets: string[];
}

export interface PodObject {
  namespace: string;
  name: string;
  phase: string;
  serviceAccountName: string | undefined;
  imagePullSecrets: string[];
  images: string[];
  createdAt: Date | undefined;
  /** The controller that owns the pod, as `Kind/name`, if any. */
  owner?: string | undefined;
}

/**
 * A pod as its start goes (what the healer watches): whether it is stuck on its pull, whether its
 * controller would replace it, and which pull secrets it was admitted with.
 */
export interface PodState {
  namespace: string;
  name: string;
  uid: string;
  phase: string;
  serviceAccountName: string | undefined;
  imagePullSecrets: string[];
  /** The controller that owns the pod, as `Kind/name`, if any. */
  owner: string | undefined;
  deleting: boolean;
  annotations: Record<string, string>;
  /** Waiting reasons of its init containers and containers (`ImagePullBackOff`, …). */
  waiting: string[];
}

export interface NewSecret {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  data: Record<string, string>;
}

export interface SecretUpdate {
  data: Record<string, string>;
  annotations: Record<string, string>;
}

/** A pod that can still start containers (and pull images): not Succeeded or Failed. */
export function isLivePod(p: PodObject): boolean {
  return p.phase !== 'Succeeded' && p.phase !== 'Failed';
}
