import type { Config } from '../config/types.ts';
import { MANAGED_SELECTOR, TARGET_LABEL } from '../kube/labels.ts';
import type { KubeRest } from '../kube/rest.ts';
import { ResourceWatch, type WatchHandlers } from '../kube/watch.ts';
import type { Logger } from '../base/logger.ts';

/** Names-only configs with at most this many namespaces watch them one by one (no cluster-wide rights needed). */
const PER_NAMESPACE_WATCH_LIMIT = 20;

/** The named namespaces to watch one by one, or undefined to watch cluster-wide. */
export function perNamespaceScope(config: Config): string[] | undefined {
  const t = config.targets;
  const names = [...new Set(t.flatMap((x) => x.namespaces.names ?? []))];
  return t.every((x) => x.selector === undefined) && names.length <= PER_NAMESPACE_WATCH_LIMIT
    ? names
    : undefined;
}

export interface WatchSinks {
  namespaces: Omit<WatchHandlers, 'state'>;
  serviceAccounts: Omit<WatchHandlers, 'state'>;
  secrets: Omit<WatchHandlers, 'state'>;
  state: (resource: string, up: boolean) => void;
}

/**
 * What scheduler mode watches: Namespaces (cluster-wide configs only), ServiceAccounts, and our own Secrets
 * of this config's targets — cluster-wide, or per namespace for a names-only config.
 */
export function createWatches(
  rest: KubeRest,
  config: Config,
  sinks: WatchSinks,
  logger: Logger,
): ResourceWatch[] {
  const targets = config.targets.map((t) => t.name).join(',');
  const secretQuery = { labelSelector: `${MANAGED_SELECTOR},${TARGET_LABEL} in (${targets})` };
  const handlers = (resource: string, h: Omit<WatchHandlers, 'state'>): WatchHandlers => ({
    ...h,
    state: (up) => sinks.state(resource, up),
  });
  const named = perNamespaceScope(config);
  const watches: ResourceWatch[] = [];
  if (!named)
    watches.push(
      new ResourceWatch(
        rest,
        'namespaces',
        '/api/v1/namespaces',
        {},
        handlers('namespaces', sinks.namespaces),
        logger,
      ),
    );
  for (const base of named ? named.map((ns) => `/api/v1/namespaces/${ns}`) : ['/api/v1']) {
    watches.push(
      new ResourceWatch(
        rest,
        `serviceaccounts ${base}`,
        `${base}/serviceaccounts`,
        {},
        handlers('serviceaccounts', sinks.serviceAccounts),
        logger,
      ),
      new ResourceWatch(
        rest,
        `secrets ${base}`,
        `${base}/secrets`,
        secretQuery,
        handlers('secrets', sinks.secrets),
        logger,
      ),
    );
  }
  return watches;
}
