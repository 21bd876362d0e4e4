import type { Target } from '../../config/types.ts';
import { isRotatorError, RotatorError } from '../../errors.ts';
import type { KubeGateway } from '../../kube/gateway.ts';
import type { NamespaceObject } from '../../kube/types.ts';
import type { Logger } from '../../base/logger.ts';

/** Targets naming at most this many namespaces read them one by one instead of listing every namespace. */
const NAMED_GET_LIMIT = 50;

/**
 * The candidate namespaces of the targets, read the cheap way: selectors are evaluated by the API server
 * (one filtered list per distinct selector), a few names are read one by one, many names list everything.
 * When the rotator may not read Namespace objects (the namespaced-Role install), named namespaces are used
 * as they are (a Terminating one then fails its create); a selector without "list namespaces" is an error
 * that says which targets need it.
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
  const asNamed = (): NamespaceObject[] => {
    logger.info({}, 'may not read namespaces; using the namespaces the targets name');
    return names.map((name) => ({ name, labels: {}, terminating: false }));
  };
  if (names.length > NAMED_GET_LIMIT) {
    // Many names: one list of every namespace is cheaper than a GET each.
    return listOrExplain(gateway, undefined, targets).catch((e: unknown) => {
      if (isRotatorError(e, 'KUBE_FORBIDDEN') && selectors.length === 0) return asNamed();
      throw e;
    });
  }
  // The cluster's size (it guides how the run lists Secrets and ServiceAccounts later) is asked for at the
  // same time as the namespaces themselves.
  const estimate = gateway.estimateNamespaceCount?.();
  estimate?.catch(() => undefined); // awaited below
  const selected = Promise.all(selectors.map((sel) => listOrExplain(gateway, sel, targets)));
  selected.catch(() => undefined); // awaited below
  const named = await Promise.all(names.map((name) => gateway.getNamespace(name))).catch((e: unknown) => {
    if (isRotatorError(e, 'KUBE_FORBIDDEN')) return asNamed();
    throw e;
  });
  const found = new Map<string, NamespaceObject>();
  for (const n of named) if (n) found.set(n.name, n);
  for (const list of await selected) for (const n of list) found.set(n.name, n);
  await estimate;
  return [...found.values()];
}

/** Lists namespaces; when that is forbidden, says which targets need it and how to do without. */
async function listOrExplain(
  gateway: KubeGateway,
  selector: string | undefined,
  targets: readonly Target[],
): Promise<NamespaceObject[]> {
  try {
    return await gateway.listNamespaces(selector);
  } catch (e) {
    if (!isRotatorError(e, 'KUBE_FORBIDDEN')) throw e;
    const selecting = targets.filter((t) => t.selector !== undefined).map((t) => t.name);
    if (selecting.length === 0) throw e;
    throw new RotatorError(
      'KUBE_FORBIDDEN',
      `${e.message}; targets ${selecting.join(', ')} use a namespace selector, which needs "list namespaces" (or list their namespaces by name)`,
      { details: e.details },
    );
  }
}
