import type { EventRecord, LeaseRecord, LeaseSpec } from './gateway.ts';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, TARGETS_ANNOTATION } from './labels.ts';
import type { NamespaceObject, PodObject, PodState, SecretObject, ServiceAccountObject } from './types.ts';

/** The fields of Kubernetes objects we read, as they arrive on the wire (everything optional). */
export interface RawMeta {
  namespace?: string;
  name?: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  ownerReferences?: { kind?: string; name?: string; controller?: boolean }[];
}
export interface RawObject {
  metadata?: RawMeta;
}
export interface RawList<T> {
  items?: T[];
  metadata?: { continue?: string; resourceVersion?: string; remainingItemCount?: number };
}
interface RawSecret extends RawObject {
  type?: string;
  data?: Record<string, string>;
  immutable?: boolean;
}
interface RawServiceAccount extends RawObject {
  imagePullSecrets?: { name?: string }[];
}
interface RawContainer {
  image?: string;
}
interface RawContainerStatus {
  state?: { waiting?: { reason?: string } };
}
interface RawPod extends RawObject {
  spec?: {
    serviceAccountName?: string;
    imagePullSecrets?: { name?: string }[];
    containers?: RawContainer[];
    initContainers?: RawContainer[];
  };
  status?: {
    phase?: string;
    containerStatuses?: RawContainerStatus[] | null;
    initContainerStatuses?: RawContainerStatus[] | null;
  };
}
interface RawNamespace extends RawObject {
  status?: { phase?: string };
}
interface RawLease extends RawObject {
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    renewTime?: string;
    acquireTime?: string;
    leaseTransitions?: number;
  };
}
interface RawEvent extends RawObject {
  involvedObject?: { kind?: string; name?: string };
  type?: string;
  reason?: string;
  message?: string;
  count?: number;
  lastTimestamp?: string;
  eventTime?: string;
}

const date = (s: string | undefined): Date | undefined => (s ? new Date(s) : undefined);
const names = (refs: { name?: string }[] | undefined): string[] => (refs ?? []).map((r) => r.name ?? '');

/** Wire objects to our reduced types (what a list page is reduced to as it arrives), and back for the Lease. */
export const toSecret = (s: RawSecret): SecretObject => ({
  namespace: s.metadata?.namespace ?? '',
  name: s.metadata?.name ?? '',
  uid: s.metadata?.uid ?? '',
  resourceVersion: s.metadata?.resourceVersion ?? '',
  type: s.type ?? 'Opaque',
  labels: s.metadata?.labels ?? {},
  annotations: s.metadata?.annotations ?? {},
  data: s.data ?? {},
  immutable: s.immutable === true,
  createdAt: date(s.metadata?.creationTimestamp),
});

export const toServiceAccount = (sa: RawServiceAccount): ServiceAccountObject => ({
  namespace: sa.metadata?.namespace ?? '',
  name: sa.metadata?.name ?? '',
  uid: sa.metadata?.uid ?? '',
  resourceVersion: sa.metadata?.resourceVersion ?? '',
  imagePullSecrets: names(sa.imagePullSecrets),
});

export const toPod = (p: RawPod): PodObject => {
  const owner = p.metadata?.ownerReferences?.find((r) => r.controller === true);
  return {
    namespace: p.metadata?.namespace ?? '',
    name: p.metadata?.name ?? '',
    phase: p.status?.phase ?? 'Pending',
    serviceAccountName: p.spec?.serviceAccountName,
    imagePullSecrets: names(p.spec?.imagePullSecrets),
    images: [...(p.spec?.initContainers ?? []), ...(p.spec?.containers ?? [])].map((c) => c.image ?? ''),
    createdAt: date(p.metadata?.creationTimestamp),
    owner: owner ? `${owner.kind ?? ''}/${owner.name ?? ''}` : undefined,
  };
};

export const toPodState = (p: RawPod): PodState => {
  const owner = p.metadata?.ownerReferences?.find((r) => r.controller === true);
  const statuses = [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])];
  return {
    namespace: p.metadata?.namespace ?? '',
    name: p.metadata?.name ?? '',
    uid: p.metadata?.uid ?? '',
    phase: p.status?.phase ?? 'Pending',
    serviceAccountName: p.spec?.serviceAccountName,
    imagePullSecrets: names(p.spec?.imagePullSecrets),
    owner: owner ? `${owner.kind ?? ''}/${owner.name ?? ''}` : undefined,
    deleting: p.metadata?.deletionTimestamp !== undefined,
    annotations: p.metadata?.annotations ?? {},
    waiting: statuses.flatMap((s) => (s.state?.waiting?.reason ? [s.state.waiting.reason] : [])),
  };
};

export const toNamespace = (n: RawNamespace): NamespaceObject => ({
  name: n.metadata?.name ?? '',
  uid: n.metadata?.uid,
  labels: n.metadata?.labels ?? {},
  terminating: n.status?.phase === 'Terminating' || n.metadata?.deletionTimestamp !== undefined,
});

export const toLease = (l: RawLease): LeaseRecord => ({
  resourceVersion: l.metadata?.resourceVersion ?? '',
  uid: l.metadata?.uid ?? '',
  holderIdentity: l.spec?.holderIdentity ?? '',
  leaseDurationSeconds: l.spec?.leaseDurationSeconds ?? 0,
  renewTime: date(l.spec?.renewTime),
  acquireTime: date(l.spec?.acquireTime),
  leaseTransitions: l.spec?.leaseTransitions ?? 0,
  targets: (l.metadata?.annotations?.[TARGETS_ANNOTATION] ?? '').split(',').filter(Boolean),
});

/** MicroTime, as coordination.k8s.io wants it: RFC 3339 with microseconds. */
const microTime = (d: Date | undefined): string | undefined =>
  d?.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

export const leaseBody = (
  namespace: string,
  name: string,
  spec: LeaseSpec,
  resourceVersion?: string,
): unknown => ({
  apiVersion: 'coordination.k8s.io/v1',
  kind: 'Lease',
  metadata: {
    name,
    namespace,
    resourceVersion,
    labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE },
    annotations: { [TARGETS_ANNOTATION]: [...spec.targets].sort().join(',') },
  },
  spec: {
    holderIdentity: spec.holderIdentity,
    leaseDurationSeconds: spec.leaseDurationSeconds,
    leaseTransitions: spec.leaseTransitions,
    renewTime: microTime(spec.renewTime),
    acquireTime: microTime(spec.acquireTime),
  },
});

export const toEvent = (e: RawEvent): EventRecord => ({
  namespace: e.metadata?.namespace ?? '',
  involvedKind: e.involvedObject?.kind ?? '',
  involvedName: e.involvedObject?.name ?? '',
  type: e.type ?? '',
  reason: e.reason ?? '',
  message: e.message ?? '',
  count: e.count ?? 1,
  lastSeen: date(e.lastTimestamp) ?? date(e.eventTime) ?? date(e.metadata?.creationTimestamp),
});
