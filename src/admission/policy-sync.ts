import { isDeepStrictEqual } from 'node:util';
import type { Logger } from '../base/logger.ts';
import type { Target } from '../config/types.ts';
import { isRotatorError } from '../errors.ts';
import { MANAGED_SELECTOR } from '../kube/labels.ts';
import type { DesiredSecret } from '../rotation/unit/types.ts';
import { paths, type AdmissionKube, type RawDoc } from './kube.ts';
import { POLICY_LABEL, policyObjects } from './policy.ts';

interface Kind {
  resource: string;
  path: (name?: string) => string;
  namespace?: string | undefined;
  /** The part of the object we own (compared, replaced). */
  owned: (o: RawDoc) => unknown;
}

/** Only the labels we set: the API server or other tools may add theirs. */
const ourLabels = (x: RawDoc) =>
  Object.fromEntries(
    Object.entries(x.metadata?.labels ?? {}).filter(
      ([k]) => k.startsWith('regcred-rotator.io/') || k === 'app.kubernetes.io/managed-by',
    ),
  );

/**
 * Keeps the policy's params and bindings equal to policyObjects(): creates what is missing, replaces what
 * differs (at the resourceVersion read), deletes ours that no configured target wants any more (a removed
 * target's binding would go on injecting a name nobody provisions). Writes nothing when all is current.
 */
export async function syncPolicy(
  k: AdmissionKube,
  o: { policy: string; namespace: string; targets: readonly Target[]; desired: readonly DesiredSecret[] },
  log: Logger,
): Promise<{ writes: number }> {
  const want = policyObjects(o.policy, o.namespace, o.targets, o.desired);
  for (const s of want.skipped)
    log.warn({ target: s.target, why: s.why }, 'target not covered by the admission policy');
  const ready = new Set(o.desired.map((d) => d.target));
  const kinds: [Kind, RawDoc[]][] = [
    [
      {
        resource: 'configmaps',
        path: (n) => paths.configMap(o.namespace, n),
        namespace: o.namespace,
        owned: (x) => [ourLabels(x), x['data']],
      },
      want.params,
    ],
    [
      {
        resource: 'mutatingadmissionpolicybindings',
        path: paths.binding,
        owned: (x) => {
          const spec = (x['spec'] ?? {}) as Record<string, { namespaceSelector?: unknown } | undefined>;
          return [
            ourLabels(x),
            spec['policyName'],
            spec['paramRef'],
            spec['matchResources']?.namespaceSelector,
          ];
        },
      },
      want.bindings,
    ],
  ];
  let writes = 0;
  for (const [kind, objects] of kinds) {
    const existing = await k.listLabelled(
      kind.resource,
      kind.path(),
      `${MANAGED_SELECTOR},${POLICY_LABEL}=${o.policy}`,
    );
    const byName = new Map(existing.map((x) => [x.metadata?.name ?? '', x]));
    for (const obj of objects) {
      const name = obj.metadata?.name ?? '';
      const cur = byName.get(name) ?? (await k.get(kind.resource, kind.path(name), kind.namespace));
      if (cur && isDeepStrictEqual(kind.owned(cur), kind.owned(obj))) continue;
      if (cur)
        await k.replace(kind.resource, kind.path(name), {
          ...obj,
          metadata: { ...obj.metadata, resourceVersion: cur.metadata?.resourceVersion },
        });
      else await k.create(kind.resource, kind.path(), obj);
      writes++;
    }
    const keep = new Set(objects.map((x) => x.metadata?.name));
    for (const x of existing) {
      const target = x.metadata?.labels?.['regcred-rotator.io/target'] ?? '';
      // A configured target that was not ready this pass keeps its objects; a removed one loses them.
      if (keep.has(x.metadata?.name) || o.targets.some((t) => t.name === target && !ready.has(t.name)))
        continue;
      try {
        await k.remove(
          kind.resource,
          kind.path(x.metadata?.name),
          x.metadata?.uid ?? '',
          x.metadata?.resourceVersion ?? '',
        );
        writes++;
      } catch (e) {
        if (!isRotatorError(e, 'KUBE_NOT_FOUND') && !isRotatorError(e, 'KUBE_CONFLICT')) throw e;
      }
    }
  }
  if (writes > 0) log.info({ policy: o.policy, writes }, 'admission policy params and bindings updated');
  return { writes };
}
