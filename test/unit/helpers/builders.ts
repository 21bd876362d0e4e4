import { Sensitive } from '../../../src/base/sensitive.ts';
import {
  DOCKERCONFIGJSON_KEY,
  DOCKERCONFIGJSON_TYPE,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  ROTATED_AT_ANNOTATION,
  TARGET_LABEL,
} from '../../../src/kube/labels.ts';
import type { PodObject, SecretObject, ServiceAccountObject } from '../../../src/kube/types.ts';
import type { DesiredSecret, NamespaceState, RetentionPolicy } from '../../../src/rotation/unit/types.ts';

export const NS = 'team-a';
export const NOW = new Date('2026-11-29T12:00:00Z');
export const HOUR = 3_600_000;

export const b64 = (s: string) => Buffer.from(s).toString('base64');

export function desired(over: Partial<DesiredSecret> = {}): DesiredSecret {
  return {
    target: 'acr',
    strategy: 'swap',
    name: 'regcred-new',
    revisionId: 'new',
    revision: 'v-new',
    dataB64: new Sensitive(b64('{"auths":{"r":{"username":"u","password":"NEW"}}}')),
    annotations: {},
    serviceAccounts: ['default'],
    ...over,
  };
}

export const retention = (over: Partial<RetentionPolicy> = {}): RetentionPolicy => ({
  retainSupersededMs: 24 * HOUR,
  settleMs: 0,
  waitForPods: true,
  refreshSuperseded: true,
  ...over,
});

let uid = 0;
export function secret(
  name: string,
  opts: { target?: string | null; data?: string; rotatedAt?: Date; type?: string; immutable?: boolean } = {},
): SecretObject {
  const labels: Record<string, string> = {};
  if (opts.target !== null) {
    labels[MANAGED_BY_LABEL] = MANAGED_BY_VALUE;
    labels[TARGET_LABEL] = opts.target ?? 'acr';
  }
  return {
    namespace: NS,
    name,
    uid: `u${++uid}`,
    resourceVersion: `rv-${name}`,
    type: opts.type ?? DOCKERCONFIGJSON_TYPE,
    labels,
    annotations: opts.rotatedAt ? { [ROTATED_AT_ANNOTATION]: opts.rotatedAt.toISOString() } : {},
    data: { [DOCKERCONFIGJSON_KEY]: opts.data ?? b64('{"auths":{"r":{"username":"u","password":"OLD"}}}') },
    immutable: opts.immutable ?? false,
    createdAt: opts.rotatedAt,
  };
}

export const sa = (name: string, pulls: string[]): ServiceAccountObject => ({
  namespace: NS,
  name,
  uid: `sa-${name}`,
  resourceVersion: `rv-sa-${name}`,
  imagePullSecrets: pulls,
});

export const pod = (name: string, pulls: string[], phase = 'Running'): PodObject => ({
  namespace: NS,
  name,
  phase,
  serviceAccountName: 'default',
  imagePullSecrets: pulls,
  images: [],
  createdAt: undefined,
});

export function state(
  secrets: SecretObject[],
  sas: ServiceAccountObject[],
  pods?: PodObject[],
): NamespaceState {
  return {
    namespace: NS,
    secrets: new Map(secrets.map((s) => [s.name, s])),
    serviceAccounts: new Map(sas.map((s) => [s.name, s])),
    pods,
  };
}
