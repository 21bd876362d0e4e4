import { REVISION_ID_ANNOTATION, TARGET_LABEL } from '../../kube/labels.ts';
import { isLivePod, type PodObject, type SecretObject, type ServiceAccountObject } from '../../kube/types.ts';
import { isNameOf } from '../unit/naming.ts';

export type PruneAction =
  | {
      kind: 'delete-secret';
      namespace: string;
      name: string;
      uid: string;
      resourceVersion: string;
      target: string;
    }
  | {
      kind: 'remove-entry';
      namespace: string;
      serviceAccount: string;
      resourceVersion: string;
      entry: string;
      to: string[];
      target: string;
    };

export interface PruneKept {
  namespace: string;
  name: string;
  target: string;
  reason: string;
}

export interface PrunePlan {
  actions: PruneAction[];
  kept: PruneKept[];
  /** ServiceAccount entries of removed targets whose Secret may be gone: confirm absence before removing. */
  candidates: { namespace: string; serviceAccount: string; entry: string; target: string }[];
}

/** The name a target gave its Secrets (swap names carry the revision id; in-place names are the base). */
function baseName(s: SecretObject): string {
  const id = s.annotations[REVISION_ID_ANNOTATION];
  return id && s.name.endsWith(`-${id}`) ? s.name.slice(0, -id.length - 1) : s.name;
}

/**
 * What `prune` does, from what it observed (pure). Secrets labelled as ours of a `removed` target (one this
 * install managed that is no longer in its config) go when no ServiceAccount and no live pod in their
 * namespace references them; the others stay, with the reason. A ServiceAccount entry is a candidate for removal only when it names a removed target's
 * Secret (by that target's name shape) that is not among our Secrets — it goes once its absence is
 * confirmed. Nothing unlabelled is ever a candidate.
 */
export function planPrune(
  removed: ReadonlySet<string>,
  managed: readonly SecretObject[],
  sas: readonly ServiceAccountObject[],
  pods: readonly PodObject[],
): PrunePlan {
  const orphans = managed.filter((s) => removed.has(s.labels[TARGET_LABEL] ?? ''));
  const actions: PruneAction[] = [];
  const kept: PruneKept[] = [];
  for (const s of orphans) {
    const target = s.labels[TARGET_LABEL] ?? '?';
    const saRefs = sas.filter((a) => a.namespace === s.namespace && a.imagePullSecrets.includes(s.name));
    const podRefs = pods.filter(
      (p) => p.namespace === s.namespace && isLivePod(p) && p.imagePullSecrets.includes(s.name),
    );
    if (saRefs.length === 0 && podRefs.length === 0) {
      actions.push({
        kind: 'delete-secret',
        namespace: s.namespace,
        name: s.name,
        uid: s.uid,
        resourceVersion: s.resourceVersion,
        target,
      });
      continue;
    }
    const why = [
      saRefs.length ? `referenced by serviceaccount ${saRefs.map((a) => a.name).join(', ')}` : '',
      podRefs.length
        ? `${podRefs.length === 1 ? '1 live pod still references' : `${podRefs.length} live pods still reference`} it (${podRefs
            .slice(0, 3)
            .map((p) => p.name)
            .join(', ')})`
        : '',
    ].filter(Boolean);
    kept.push({ namespace: s.namespace, name: s.name, target, reason: why.join('; ') });
  }
  const bases = new Map<string, string>(); // base name -> removed target
  for (const s of orphans) bases.set(baseName(s), s.labels[TARGET_LABEL] ?? '?');
  const present = new Set(managed.map((s) => `${s.namespace}/${s.name}`));
  const candidates: PrunePlan['candidates'] = [];
  for (const sa of sas) {
    for (const entry of sa.imagePullSecrets) {
      if (present.has(`${sa.namespace}/${entry}`)) continue;
      for (const [base, target] of bases)
        if (isNameOf(base, entry))
          candidates.push({ namespace: sa.namespace, serviceAccount: sa.name, entry, target });
    }
  }
  return { actions, kept, candidates };
}

/** The ServiceAccount write that removes confirmed-absent entries (foreign entries keep their order). */
export function removeEntries(
  sa: ServiceAccountObject,
  gone: ReadonlySet<string>,
  target: string,
): PruneAction {
  const removed = sa.imagePullSecrets.filter((e) => gone.has(e));
  return {
    kind: 'remove-entry',
    namespace: sa.namespace,
    serviceAccount: sa.name,
    resourceVersion: sa.resourceVersion,
    entry: removed.join(', '),
    to: sa.imagePullSecrets.filter((e) => !gone.has(e)),
    target,
  };
}
