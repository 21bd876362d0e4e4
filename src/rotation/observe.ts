import type { Target } from '../config/types.ts';
import { isRotatorError, RotatorError } from '../errors.ts';
import type { KubeGateway } from '../kube/gateway.ts';
import type { NamespaceObject, SecretObject, ServiceAccountObject } from '../kube/types.ts';
import type { Logger } from '../base/logger.ts';
import { pool } from '../base/pool.ts';
import { errorInfo, type ReadyTarget } from './prepare.ts';
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
  await gateway.estimateNamespaceCount?.();
  const named = await Promise.all(names.map((name) => gateway.getNamespace(name))).catch((e: unknown) => {
    if (isRotatorError(e, 'KUBE_FORBIDDEN')) return asNamed();
    throw e;
  });
  const found = new Map<string, NamespaceObject>();
  for (const n of named) if (n) found.set(n.name, n);
  for (const sel of selectors)
    for (const n of await listOrExplain(gateway, sel, targets)) found.set(n.name, n);
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

/**
 * Managed secrets and ServiceAccounts of the namespaces in scope, in batched lists. If a batched list is
 * forbidden (a namespaced-Role install that covers only some of them), each namespace is read on its own
 * and those that cannot be read are reported as failed — the others still run.
 */
export async function observeState(
  gateway: KubeGateway,
  inScope: readonly string[],
  targets: readonly string[],
): Promise<{ secrets: SecretObject[]; sas: ServiceAccountObject[]; unreadable: Map<string, RotatorError> }> {
  const unreadable = new Map<string, RotatorError>();
  if (inScope.length === 0) return { secrets: [], sas: [], unreadable };
  try {
    const [secrets, sas] = await Promise.all([
      gateway.listManagedSecrets(inScope, targets),
      gateway.listServiceAccounts(inScope),
    ]);
    return { secrets, sas, unreadable };
  } catch (e) {
    if (!isRotatorError(e, 'KUBE_FORBIDDEN')) throw e;
  }
  const secrets: SecretObject[] = [];
  const sas: ServiceAccountObject[] = [];
  await pool(inScope, 8, undefined, async (ns) => {
    try {
      const [s, a] = await Promise.all([
        gateway.listManagedSecrets([ns], targets),
        gateway.listServiceAccounts([ns]),
      ]);
      secrets.push(...s);
      sas.push(...a);
    } catch (e) {
      if (!isRotatorError(e)) throw e;
      unreadable.set(ns, e);
    }
  });
  return { secrets, sas, unreadable };
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

/** What a run sees before it writes: which namespaces each target covers, and their state. */
export interface RunScope {
  /** Target name → the namespaces it covers in this run. */
  scopes: Map<string, Set<string>>;
  /** Namespaces to converge, sorted. */
  workList: string[];
  states: Map<string, NamespaceState>;
  /** Every managed secret seen (of these targets), for their name salts. */
  secrets: SecretObject[];
  /** Skipped namespaces (not found, terminating) and namespaces that could not be read. */
  results: NamespaceResult[];
}

const noWork = (target: string, namespace: string, note: string): NamespaceResult => ({
  target,
  namespace,
  outcome: 'skipped',
  secret: undefined,
  actions: [],
  kept: [],
  notes: [note],
  writes: 0,
});

/** Observes namespaces, then our Secrets and the ServiceAccounts of those in scope, in batched lists. */
export async function observeRun(
  gateway: KubeGateway,
  ready: readonly ReadyTarget[],
  only: readonly string[] | undefined,
  logger: Logger,
): Promise<RunScope> {
  const targets = ready.map((r) => r.target);
  const namespaces = await observeNamespaces(gateway, targets, logger);
  const onlySet = only && only.length > 0 ? new Set(only) : undefined;
  const scopes = new Map<string, Set<string>>();
  const results: NamespaceResult[] = [];
  for (const t of targets) {
    const sel = selectNamespaces(t, namespaces, onlySet);
    scopes.set(t.name, new Set(sel.namespaces));
    for (const sk of sel.skipped) results.push(noWork(t.name, sk.namespace, sk.reason));
  }
  const inScope = [...new Set([...scopes.values()].flatMap((s) => [...s]))].sort();
  const { secrets, sas, unreadable } = await observeState(
    gateway,
    inScope,
    targets.map((t) => t.name),
  );
  for (const [ns, e] of unreadable) {
    for (const t of targets.filter((x) => scopes.get(x.name)?.has(ns))) {
      results.push({ ...noWork(t.name, ns, ''), outcome: 'failed', notes: [], error: errorInfo(e) });
      logger.error({ target: t.name, namespace: ns, code: e.code, err: e.message }, 'namespace failed');
    }
  }
  const workList = inScope.filter((ns) => !unreadable.has(ns));
  return { scopes, workList, states: groupState(workList, secrets, sas), secrets, results };
}
