import {
  V1MicroTime,
  type CoreV1Event,
  type V1Lease,
  type V1Namespace,
  type V1Pod,
  type V1Secret,
  type V1ServiceAccount,
} from '@kubernetes/client-node';
import type { EventRecord, LeaseRecord, LeaseSpec } from './gateway.ts';
import type { NamespaceObject, PodObject, SecretObject, ServiceAccountObject } from './types.ts';

/** client-node's model objects to our reduced types, and back for the Lease. */
export const toSecret = (s: V1Secret): SecretObject => ({
  namespace: s.metadata?.namespace ?? '',
  name: s.metadata?.name ?? '',
  uid: s.metadata?.uid ?? '',
  resourceVersion: s.metadata?.resourceVersion ?? '',
  type: s.type ?? 'Opaque',
  labels: { ...(s.metadata?.labels ?? {}) },
  annotations: { ...(s.metadata?.annotations ?? {}) },
  data: { ...(s.data ?? {}) },
  immutable: s.immutable === true,
  createdAt: s.metadata?.creationTimestamp ? new Date(s.metadata.creationTimestamp) : undefined,
});

export const toServiceAccount = (sa: V1ServiceAccount): ServiceAccountObject => ({
  namespace: sa.metadata?.namespace ?? '',
  name: sa.metadata?.name ?? '',
  uid: sa.metadata?.uid ?? '',
  resourceVersion: sa.metadata?.resourceVersion ?? '',
  imagePullSecrets: (sa.imagePullSecrets ?? []).map((r) => r.name ?? ''),
});

export const toPod = (p: V1Pod): PodObject => ({
  namespace: p.metadata?.namespace ?? '',
  name: p.metadata?.name ?? '',
  phase: p.status?.phase ?? 'Pending',
  serviceAccountName: p.spec?.serviceAccountName,
  imagePullSecrets: (p.spec?.imagePullSecrets ?? []).map((r) => r.name ?? ''),
  images: [...(p.spec?.initContainers ?? []), ...(p.spec?.containers ?? [])].map((c) => c.image ?? ''),
  createdAt: p.metadata?.creationTimestamp ? new Date(p.metadata.creationTimestamp) : undefined,
  owner: ((o) => (o ? `${o.kind}/${o.name}` : undefined))(
    p.metadata?.ownerReferences?.find((r) => r.controller === true),
  ),
});

export const toNamespace = (n: V1Namespace): NamespaceObject => ({
  name: n.metadata?.name ?? '',
  labels: { ...(n.metadata?.labels ?? {}) },
  terminating: n.status?.phase === 'Terminating' || n.metadata?.deletionTimestamp !== undefined,
});

export const toLease = (l: V1Lease): LeaseRecord => ({
  resourceVersion: l.metadata?.resourceVersion ?? '',
  uid: l.metadata?.uid ?? '',
  holderIdentity: l.spec?.holderIdentity ?? '',
  leaseDurationSeconds: l.spec?.leaseDurationSeconds ?? 0,
  renewTime: l.spec?.renewTime ? new Date(l.spec.renewTime) : undefined,
  acquireTime: l.spec?.acquireTime ? new Date(l.spec.acquireTime) : undefined,
  leaseTransitions: l.spec?.leaseTransitions ?? 0,
});

export const leaseBody = (
  namespace: string,
  name: string,
  spec: LeaseSpec,
  resourceVersion?: string,
): V1Lease => ({
  apiVersion: 'coordination.k8s.io/v1',
  kind: 'Lease',
  metadata: {
    name,
    namespace,
    resourceVersion,
    labels: { 'app.kubernetes.io/managed-by': 'regcred-rotator' },
  },
  spec: {
    holderIdentity: spec.holderIdentity,
    leaseDurationSeconds: spec.leaseDurationSeconds,
    leaseTransitions: spec.leaseTransitions,
    renewTime: spec.renewTime ? new V1MicroTime(spec.renewTime) : undefined,
    acquireTime: spec.acquireTime ? new V1MicroTime(spec.acquireTime) : undefined,
  },
});

export const toEvent = (e: CoreV1Event): EventRecord => ({
  namespace: e.metadata.namespace ?? '',
  involvedKind: e.involvedObject.kind ?? '',
  involvedName: e.involvedObject.name ?? '',
  type: e.type ?? '',
  reason: e.reason ?? '',
  message: e.message ?? '',
  count: e.count ?? 1,
  lastSeen:
    e.lastTimestamp ?? (e.eventTime ? new Date(e.eventTime) : undefined) ?? e.metadata.creationTimestamp,
});
