import type { Target } from '../config/types.ts';
import { isRotatorError, RotatorError } from '../errors.ts';
import type { KubeGateway } from '../kube/gateway.ts';
import type { NamespaceObject } from '../kube/types.ts';
import type { Logger } from '../observability/logger.ts';

/** Targets naming at most this many namespaces read them one by one instead of listing every namespace. */
const NAMED_GET_LIMIT = 50;

/**
 * The candidate namespaces of the targets, read the cheap way: selectors are evaluated by the API server
 * (one filtered list per distinct selector), a few names are read one by one, many names list everything.
 * When the rotator may not read Namespace objects (the namespaced-Role install) and every target names its
 * namespaces, those names are used as they are (a Terminating one then fails its create).
 */
export async function observeNamespaces(
  gateway: KubeGateway,
  targets: readonly Target[],
  logger: Logger,
): Promise<NamespaceObject[]> {
  const selectors = [
    ...new Set(targets.flatMap((t) => (t.namespaces.selector !== undefined ? [t.namespaces.selector] : []))),
  ];
  const names = [...new Set(targets.flatMap((t) => t.namespaces.names ?? []))];
  const found = new Map<string, NamespaceObject>();
  try {
    if (names.length > NAMED_GET_LIMIT) {
      for (const n of await gateway.listNamespaces()) found.set(n.name, n);
    } else {
      await gateway.estimateNamespaceCount?.();
      for (const n of await Promise.all(names.map((name) => gateway.getNamespace(name))))
        if (n) found.set(n.name, n);
      for (const sel of selectors) for (const n of await gateway.listNamespaces(sel)) found.set(n.name, n);
    }
    return [...found.values()];
  } catch (e) {
    if (!isRotatorError(e, 'KUBE_FORBIDDEN')) throw e;
    const selecting = targets.filter((t) => t.selector !== undefined).map((t) => t.name);
    if (selecting.length > 0) {
      throw new RotatorError(
        'KUBE_FORBIDDEN',
        `${e.message}; targets ${selecting.join(', ')} use a namespace selector, which needs "list namespaces" (or list their namespaces by name)`,
        { details: e.details },
      );
    }
    logger.info({}, 'may not read namespaces; using the namespaces the targets name');
    return names.map((name) => ({ name, labels: {}, terminating: false }));
  }
}
