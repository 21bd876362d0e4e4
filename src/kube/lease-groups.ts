import type { LeaseGateway, LeaseRecord, LeaseSpec } from './gateway.ts';

/**
 * The groups with `mine` recorded: every group that shares a target with it joins it (the same config,
 * before and after a target was added or removed), the others stay as they are; targets no longer on the
 * Lease (forgotten by `prune`) leave their group.
 */
export function recordGroup(
  groups: readonly (readonly string[])[],
  mine: readonly string[],
  onLease: readonly string[],
): string[][] {
  const kept = groups.map((g) => g.filter((t) => onLease.includes(t))).filter((g) => g.length > 0);
  if (mine.length === 0) return kept;
  const joined = new Set(mine);
  const rest: string[][] = [];
  for (const g of kept) {
    if (g.some((t) => joined.has(t))) for (const t of g) joined.add(t);
    else rest.push(g);
  }
  return [...rest, [...joined].sort()];
}

/** The targets a config has had, as far as the Lease records: the groups that share a target with it. */
export function targetsOfConfig(
  groups: readonly (readonly string[])[],
  configured: ReadonlySet<string>,
): Set<string> {
  const out = new Set<string>();
  for (const g of groups) if (g.some((t) => configured.has(t))) for (const t of g) out.add(t);
  return out;
}

/**
 * A LeaseGateway that records, at every Lease write, which targets went together in this config (the
 * `target-groups` annotation), beside the union of all targets the run lock keeps. Installs that share a
 * Lease then each know their own: `prune` acts only on the removed targets of its own config's group.
 * Writes carry the groups of the latest Lease this gateway saw; a write made on an older view fails its
 * resourceVersion precondition anyway.
 */
export function recordingTargetGroups(g: LeaseGateway, mine: readonly string[]): LeaseGateway {
  let last: LeaseRecord | undefined;
  const seen = <R extends LeaseRecord | undefined>(r: R): R => {
    last = r;
    return r;
  };
  const withGroups = (spec: LeaseSpec): LeaseSpec => ({
    ...spec,
    groups: recordGroup(last?.groups ?? [], mine, spec.targets),
  });
  return {
    getLease: async (namespace, name) => seen(await g.getLease(namespace, name)),
    createLease: async (namespace, name, spec) =>
      seen(await g.createLease(namespace, name, withGroups(spec))),
    updateLease: async (namespace, name, resourceVersion, spec) =>
      seen(await g.updateLease(namespace, name, resourceVersion, withGroups(spec))),
  };
}
