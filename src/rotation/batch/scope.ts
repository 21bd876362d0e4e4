import type { Target } from '../../config/types.ts';
import { matchesSelector } from '../../kube/selector.ts';
import { storageOrder } from '../../kube/gateway.ts';
import type { NamespaceObject } from '../../kube/types.ts';
import type { NamespaceResult } from '../unit/result.ts';

const TERMINATING = 'namespace is terminating';

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
      skipped.push({ namespace: ns.name, reason: TERMINATING });
      continue;
    }
    namespaces.push(ns.name);
  }
  return { namespaces, skipped };
}

/** Which namespaces a run covers, before it reads anything in them. */
export interface RunScope {
  /** Target name → the namespaces it covers in this run. */
  scopes: Map<string, Set<string>>;
  /** Namespaces to converge, in storage order (the order their lists arrive in). */
  workList: string[];
  /** Skipped namespaces (not found, terminating). */
  skipped: NamespaceResult[];
  /** Targets that skip a terminating namespace: it may still hold their old Secret (no rollout complete). */
  terminating: Set<string>;
}

/** A namespace result of a namespace the run does not converge. */
export const noWork = (target: string, namespace: string, note: string): NamespaceResult => ({
  target,
  namespace,
  outcome: 'skipped',
  secret: undefined,
  actions: [],
  kept: [],
  notes: [note],
  writes: 0,
});

/**
 * Decides which of the observed namespaces each target covers (their contents are streamed later).
 * `namespaces` may hold more than these targets select (read for every configured target).
 */
export function scopeOf(
  targets: readonly Target[],
  namespaces: readonly NamespaceObject[],
  only: readonly string[] | undefined,
): RunScope {
  const onlySet = only && only.length > 0 ? new Set(only) : undefined;
  const scopes = new Map<string, Set<string>>();
  const skipped: NamespaceResult[] = [];
  const terminating = new Set<string>();
  for (const t of targets) {
    const sel = selectNamespaces(t, namespaces, onlySet);
    scopes.set(t.name, new Set(sel.namespaces));
    for (const sk of sel.skipped) skipped.push(noWork(t.name, sk.namespace, sk.reason));
    if (sel.skipped.some((sk) => sk.reason === TERMINATING)) terminating.add(t.name);
  }
  const workList = [...new Set([...scopes.values()].flatMap((s) => [...s]))].sort(storageOrder);
  return { scopes, workList, skipped, terminating };
}
