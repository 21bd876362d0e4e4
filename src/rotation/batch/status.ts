import type { Config, Target } from '../../config/types.ts';
import type { KubeGateway } from '../../kube/gateway.ts';
import {
  ROTATED_AT_ANNOTATION,
  SOURCE_REVISION_ANNOTATION,
  SOURCE_UPDATED_AT_ANNOTATION,
  TARGET_LABEL,
} from '../../kube/labels.ts';
import { isLivePod, type PodObject, type SecretObject, type ServiceAccountObject } from '../../kube/types.ts';
import { assessAge, type AgeVerdict } from '../../policy/age.ts';
import { silentLogger } from '../../base/logger.ts';
import { observeNamespaces } from './observe.ts';
import { currentSecret } from '../unit/naming.ts';
import { selectNamespaces } from './scope.ts';

export interface NamespaceStatus {
  target: string;
  namespace: string;
  /** The secret the target's ServiceAccounts should use now (newest rotated), if any. */
  secret: string | undefined;
  revision: string | undefined;
  sourceUpdatedAt: string | undefined;
  rotatedAt: string | undefined;
  age: AgeVerdict;
  /** Selected ServiceAccounts that reference `secret`, and those that do not. */
  serviceAccounts: string[];
  serviceAccountsMissingIt: string[];
  superseded: string[];
  /** Live pods that reference only older (superseded) secrets of this target. */
  podsOnOlder: string[];
  state: 'current' | 'not-provisioned' | 'partial' | 'skipped';
  note: string | undefined;
}

const rotatedAt = (s: SecretObject): string =>
  s.annotations[ROTATED_AT_ANNOTATION] ?? s.createdAt?.toISOString() ?? '';

/** What is in the cluster now, per target × namespace (read-only: no store is contacted). */
export async function collectStatus(
  config: Config,
  gateway: KubeGateway,
  now: Date,
  only?: readonly string[],
): Promise<NamespaceStatus[]> {
  const namespaces = await observeNamespaces(gateway, config.targets, silentLogger());
  const onlySet = only && only.length > 0 ? new Set(only) : undefined;
  const scopes = config.targets.map((t) => ({ t, scope: selectNamespaces(t, namespaces, onlySet) }));
  const inScope = [...new Set(scopes.flatMap((s) => s.scope.namespaces))].sort();
  const [secrets, sas, pods] =
    inScope.length === 0
      ? [[], [], []]
      : await Promise.all([
          gateway.listManagedSecrets(
            inScope,
            config.targets.map((t) => t.name),
          ),
          gateway.listServiceAccounts(inScope),
          gateway.listPods(inScope),
        ]);
  const [bySecret, bySa, byPod] = [byNamespace(secrets), byNamespace(sas), byNamespace(pods)];
  const out: NamespaceStatus[] = [];
  for (const { t, scope } of scopes) {
    for (const sk of scope.skipped)
      out.push({
        ...blank(t.name, sk.namespace, assessAge(undefined, now, config.policy)),
        state: 'skipped',
        note: sk.reason,
      });
    for (const ns of scope.namespaces)
      out.push(namespaceStatus(t, ns, bySecret.of(ns), bySa.of(ns), byPod.of(ns), now, config.policy));
  }
  return out;
}

function blank(target: string, namespace: string, age: AgeVerdict): NamespaceStatus {
  return {
    target,
    namespace,
    secret: undefined,
    revision: undefined,
    sourceUpdatedAt: undefined,
    rotatedAt: undefined,
    age,
    serviceAccounts: [],
    serviceAccountsMissingIt: [],
    superseded: [],
    podsOnOlder: [],
    state: 'not-provisioned',
    note: undefined,
  };
}

/** One target in one namespace, from that namespace's secrets, ServiceAccounts and pods. */
function namespaceStatus(
  t: Target,
  ns: string,
  secrets: readonly SecretObject[],
  sas: readonly ServiceAccountObject[],
  pods: readonly PodObject[],
  now: Date,
  policy: Config['policy'],
): NamespaceStatus {
  const ours = secrets
    .filter((s) => s.labels[TARGET_LABEL] === t.name)
    .sort((a, b) => (rotatedAt(a) < rotatedAt(b) ? 1 : -1));
  const selected = t.serviceAccounts.includes('*')
    ? sas
    : sas.filter((s) => t.serviceAccounts.includes(s.name));
  const current = currentSecret(t.secretName, t.strategy, ours);
  const older = ours.filter((s) => s !== current).map((s) => s.name);
  const podsOnOlder = pods
    .filter(
      (p) =>
        isLivePod(p) &&
        p.imagePullSecrets.some((n) => older.includes(n)) &&
        !(current && p.imagePullSecrets.includes(current.name)),
    )
    .map((p) => p.name);
  const updated = current?.annotations[SOURCE_UPDATED_AT_ANNOTATION];
  const using = current
    ? selected.filter((s) => s.imagePullSecrets.includes(current.name)).map((s) => s.name)
    : [];
  const missing = selected.filter((s) => !using.includes(s.name)).map((s) => s.name);
  return {
    ...blank(t.name, ns, assessAge(updated ? new Date(updated) : undefined, now, policy)),
    secret: current?.name,
    revision: current?.annotations[SOURCE_REVISION_ANNOTATION],
    sourceUpdatedAt: updated,
    rotatedAt: current ? rotatedAt(current) : undefined,
    serviceAccounts: using,
    serviceAccountsMissingIt: missing,
    superseded: older,
    podsOnOlder,
    state: !current ? 'not-provisioned' : missing.length > 0 ? 'partial' : 'current',
  };
}

function byNamespace<T extends { namespace: string }>(xs: readonly T[]): { of: (ns: string) => T[] } {
  const m = new Map<string, T[]>();
  for (const x of xs) {
    const list = m.get(x.namespace);
    if (list) list.push(x);
    else m.set(x.namespace, [x]);
  }
  return { of: (ns) => m.get(ns) ?? [] };
}
