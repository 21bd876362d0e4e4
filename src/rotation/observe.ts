import type { Target } from '../config/types.ts';
import { isRotatorError, RotatorError } from '../errors.ts';
import { storageOrder, type KubeGateway } from '../kube/gateway.ts';
import type { NamespaceObject, SecretObject, ServiceAccountObject } from '../kube/types.ts';
import type { Logger } from '../base/logger.ts';
import type { NamespaceResult } from './results.ts';
import { selectNamespaces } from './targets.ts';
import type { NamespaceState } from './types.ts';

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

export function emptyState(namespace: string): NamespaceState {
  return { namespace, secrets: new Map(), serviceAccounts: new Map(), pods: undefined };
}

export function groupState(
  namespaces: readonly string[],
  secrets: readonly SecretObject[],
  sas: readonly ServiceAccountObject[],
): Map<string, NamespaceState> {
  const m = new Map(namespaces.map((ns) => [ns, emptyState(ns)]));
  for (const s of secrets) m.get(s.namespace)?.secrets.set(s.name, s);
  for (const sa of sas) m.get(sa.namespace)?.serviceAccounts.set(sa.name, sa);
  return m;
}

/** Which namespaces a run covers, before it reads anything in them. */
export interface RunScope {
  /** Target name → the namespaces it covers in this run. */
  scopes: Map<string, Set<string>>;
  /** Namespaces to converge, in storage order (the order their lists arrive in). */
  workList: string[];
  /** Skipped namespaces (not found, terminating). */
  skipped: NamespaceResult[];
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
  for (const t of targets) {
    const sel = selectNamespaces(t, namespaces, onlySet);
    scopes.set(t.name, new Set(sel.namespaces));
    for (const sk of sel.skipped) skipped.push(noWork(t.name, sk.namespace, sk.reason));
  }
  const workList = [...new Set([...scopes.values()].flatMap((s) => [...s]))].sort(storageOrder);
  return { scopes, workList, skipped };
}
