import type { Target } from '../config/types.ts';
import { matchesSelector } from '../kube/selector.ts';
import type { NamespaceObject } from '../kube/types.ts';

export interface Skipped {
  namespace: string;
  reason: string;
}

export interface TargetScope {
  namespaces: string[];
  skipped: Skipped[];
}

/**
 * The namespaces a target covers: its `names` and those its `selector` matches, minus `exclude` globs,
 * minus Terminating namespaces (they reject creates), limited to `only` when the run is limited (-n).
 */
export function selectNamespaces(
  t: Target,
  all: readonly NamespaceObject[],
  only?: ReadonlySet<string>,
): TargetScope {
  const byName = new Map(all.map((n) => [n.name, n]));
  const chosen = new Map<string, NamespaceObject>();
  const skipped: Skipped[] = [];
  for (const name of t.namespaces.names ?? []) {
    const ns = byName.get(name);
    if (ns) chosen.set(name, ns);
    else if (!only || only.has(name)) skipped.push({ namespace: name, reason: 'namespace not found' });
  }
  if (t.selector !== undefined) {
    const sel = t.selector;
    for (const ns of all) if (matchesSelector(sel, ns.labels)) chosen.set(ns.name, ns);
  }
  const namespaces: string[] = [];
  for (const ns of [...chosen.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (only && !only.has(ns.name)) continue;
    if (t.excludeRes.some((re) => re.test(ns.name))) continue;
    if (ns.terminating) {
      skipped.push({ namespace: ns.name, reason: 'namespace is terminating' });
      continue;
    }
    namespaces.push(ns.name);
  }
  return { namespaces, skipped };
}
