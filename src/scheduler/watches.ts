import type { Config } from '../config/types.ts';
import type { Watched, WatchScope } from '../kube/gateway.ts';

/**
 * Names-only configs with at most this many namespaces watch them one by one (no cluster-wide rights
 * needed); a config naming at most this many namespaces watches those Namespace objects by name.
 */
const PER_NAMESPACE_WATCH_LIMIT = 20;

/** The named namespaces to watch one by one, or undefined to watch cluster-wide. */
export function perNamespaceScope(config: Config): string[] | undefined {
  const t = config.targets;
  const names = namedNamespaces(config);
  return t.every((x) => x.selector === undefined) && names.length <= PER_NAMESPACE_WATCH_LIMIT
    ? names
    : undefined;
}

const namedNamespaces = (config: Config): string[] => [
  ...new Set(config.targets.flatMap((x) => x.namespaces.names ?? [])),
];

/** One watch the scheduler runs: what it follows, and a name the reactor tells its lists apart by. */
export interface WatchSpec {
  /** The reactor's kinds: pods are the healer's (src/healer/scheduler.ts). */
  kind: Exclude<keyof Watched, 'pods'>;
  scope: WatchScope;
  /** Unique per watch: the reactor keeps which namespaces each Namespace watch has shown. */
  source: string;
}

/**
 * What scheduler mode watches, so that its memory follows the selection, not the cluster:
 * - Namespaces: only those the targets can select — one watch per distinct selector (the API server
 *   filters; a namespace that stops matching is reported deleted), one per named namespace (by name) —
 *   or every namespace when the config names more than PER_NAMESPACE_WATCH_LIMIT. None for a small
 *   names-only config (it watches inside the named namespaces).
 * - ServiceAccounts: cluster-wide (their lists are read a page at a time and not kept), or per namespace
 *   for a small names-only config.
 * - Our Secrets of this config's targets, the same way.
 */
export function watchPlan(config: Config): WatchSpec[] {
  const targets = config.targets.map((t) => t.name);
  const named = perNamespaceScope(config);
  if (named)
    return named.flatMap((ns) => [
      { kind: 'serviceaccounts', scope: { namespace: ns }, source: `serviceaccounts ${ns}` },
      { kind: 'secrets', scope: { namespace: ns, targets }, source: `secrets ${ns}` },
    ]);
  const specs: WatchSpec[] = [];
  const names = namedNamespaces(config);
  if (names.length > PER_NAMESPACE_WATCH_LIMIT)
    specs.push({ kind: 'namespaces', scope: {}, source: 'namespaces' });
  else {
    const selectors = [...new Set(config.targets.flatMap((t) => t.namespaces.selector ?? []))];
    for (const labelSelector of selectors)
      specs.push({ kind: 'namespaces', scope: { labelSelector }, source: `namespaces ${labelSelector}` });
    for (const name of names)
      specs.push({ kind: 'namespaces', scope: { name }, source: `namespace ${name}` });
  }
  specs.push(
    { kind: 'serviceaccounts', scope: {}, source: 'serviceaccounts' },
    { kind: 'secrets', scope: { targets }, source: 'secrets' },
  );
  return specs;
}
