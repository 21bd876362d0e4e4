import { decodePullSecret } from '../credentials/decode.ts';
import { isManaged } from '../kube/labels.ts';
import type { SecretObject } from '../kube/types.ts';

export interface StaleSecret {
  namespace: string;
  name: string;
  ageDays: number;
  registries: string[];
}

/**
 * Pull secrets the rotator does not manage that are older than the maximum age. Their only age is their
 * creation time (nothing records when their credentials were issued); they are reported, never touched.
 */
export function staleUnmanaged(
  secrets: readonly SecretObject[],
  maxAgeDays: number,
  now: Date,
): StaleSecret[] {
  return secrets
    .filter(
      (s) =>
        !isManaged(s.labels) &&
        s.createdAt !== undefined &&
        now.getTime() - s.createdAt.getTime() > maxAgeDays * 86_400_000,
    )
    .map((s) => {
      const d = decodePullSecret(s);
      return {
        namespace: s.namespace,
        name: s.name,
        ageDays: Math.floor((now.getTime() - (s.createdAt?.getTime() ?? 0)) / 86_400_000),
        registries: d.ok ? d.creds.map((c) => c.registry) : [],
      };
    })
    .sort((a, b) => b.ageDays - a.ageDays);
}
