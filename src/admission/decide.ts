/**
 * The webhook's decision for one pod, and its JSON Patch. Pure: no I/O, no clock.
 *
 * The rule: a pod gets our secret's name exactly when the ServiceAccount admission plugin would have given
 * it to the pod had our entry already been on its ServiceAccount — the pod is in a namespace a target
 * covers, runs under a ServiceAccount that target selects, names none of that target's secrets, and its
 * pull secrets are the ones its ServiceAccount gave it (a pod that lists its own was written that way on
 * purpose: the plugin never adds to such a list, and neither do we). The annotation
 * `regcred-rotator.io/inject: "false"` opts a pod out explicitly.
 */
import { isNameOf } from '../rotation/unit/naming.ts';

export const OPT_OUT_ANNOTATION = 'regcred-rotator.io/inject';

/** The pod of an AdmissionReview, reduced to what the decision reads. */
export interface PodRequest {
  namespace: string;
  /** The pod's name, or its generateName prefix (for logs). */
  pod: string;
  dryRun: boolean;
  serviceAccount: string;
  /** `spec.imagePullSecrets` names, in order (after the ServiceAccount plugin). */
  pullSecrets: string[];
  /** Whether `spec.imagePullSecrets` is present at all (an `add …/-` needs the list). */
  hasList: boolean;
  optedOut: boolean;
}

/** A target covering the pod's namespace: what it wants there now. */
export interface Covering {
  target: string;
  /** The target's `secretName`: every name of ours is this, or this plus `-<revision id>`. */
  secretBase: string;
  /** The name our ServiceAccount entry has now. */
  name: string;
  serviceAccounts: readonly string[] | '*';
}

export type Decision = { inject: false; why: string } | { inject: true; targets: Covering[] };

interface RawReview {
  request?: {
    kind?: { group?: string; kind?: string };
    resource?: { group?: string; resource?: string };
    subResource?: string;
    operation?: string;
    namespace?: string;
    dryRun?: boolean;
    object?: {
      metadata?: { name?: string; generateName?: string; annotations?: Record<string, string> };
      spec?: { serviceAccountName?: string; imagePullSecrets?: { name?: string }[] | null };
    };
  };
}

/** The pod of a pod CREATE review, or why the review is none of ours. Lenient: only the fields used. */
export function readReview(review: unknown): PodRequest | { skip: string } {
  const r = (review as RawReview | undefined)?.request;
  if (!r) return { skip: 'not an AdmissionReview request' };
  const isPod =
    (r.kind?.group ?? '') === '' && r.kind?.kind === 'Pod' && (r.resource?.resource ?? 'pods') === 'pods';
  if (!isPod || (r.subResource ?? '') !== '') return { skip: 'not a pod' };
  if (r.operation !== 'CREATE') return { skip: 'not a create' };
  const o = r.object;
  const list = o?.spec?.imagePullSecrets;
  return {
    namespace: r.namespace ?? '',
    pod: o?.metadata?.name || `${o?.metadata?.generateName ?? ''}*`,
    dryRun: r.dryRun === true,
    serviceAccount: o?.spec?.serviceAccountName || 'default',
    pullSecrets: (list ?? []).map((s) => s.name ?? ''),
    hasList: Array.isArray(list),
    optedOut: o?.metadata?.annotations?.[OPT_OUT_ANNOTATION] === 'false',
  };
}

/**
 * `serviceAccountList`: the pod's ServiceAccount's imagePullSecrets as read now (undefined when it could not
 * be read); only consulted when the pod lists pull secrets, to tell the plugin's copy from a list of its own.
 */
export function decide(
  pod: PodRequest,
  covering: readonly Covering[],
  serviceAccountList: readonly string[] | undefined,
): Decision {
  if (covering.length === 0) return { inject: false, why: 'namespace not covered by a target' };
  if (pod.optedOut) return { inject: false, why: `opted out (${OPT_OUT_ANNOTATION}: "false")` };
  const selected = covering.filter(
    (c) => c.serviceAccounts === '*' || c.serviceAccounts.includes(pod.serviceAccount),
  );
  if (selected.length === 0) return { inject: false, why: 'service account not selected by a target' };
  const missing = selected.filter((c) => !pod.pullSecrets.some((n) => isNameOf(c.secretBase, n)));
  if (missing.length === 0) return { inject: false, why: 'already names our secret' };
  if (pod.pullSecrets.length > 0) {
    if (serviceAccountList === undefined) return { inject: false, why: 'service account unreadable' };
    const ours = (n: string) => covering.some((c) => isNameOf(c.secretBase, n));
    const fromServiceAccount = serviceAccountList.filter((n) => !ours(n));
    const own = pod.pullSecrets.filter((n) => !ours(n));
    const same = fromServiceAccount.length === own.length && fromServiceAccount.every((n, i) => n === own[i]);
    if (!same) return { inject: false, why: 'pod lists pull secrets of its own' };
  }
  return { inject: true, targets: missing };
}

/** Adds `names` after the pod's own entries: never a duplicate, never a reorder or removal. */
export function patchFor(
  pod: Pick<PodRequest, 'pullSecrets' | 'hasList'>,
  names: readonly string[],
): unknown[] {
  const add = [...new Set(names)].filter((n) => !pod.pullSecrets.includes(n));
  if (add.length === 0) return [];
  if (!pod.hasList)
    return [{ op: 'add', path: '/spec/imagePullSecrets', value: add.map((name) => ({ name })) }];
  return add.map((name) => ({ op: 'add', path: '/spec/imagePullSecrets/-', value: { name } }));
}
