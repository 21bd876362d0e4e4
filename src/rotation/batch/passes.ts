import { errorInfo, isRotatorError, type RotatorError } from '../../errors.ts';
import { storageOrder } from '../../kube/gateway.ts';
import type { PodObject, SecretObject, ServiceAccountObject } from '../../kube/types.ts';
import { poolStream } from '../../base/pool.ts';
import { settleUntil } from '../unit/apply.ts';
import {
  abandonNamespace,
  convergeNamespace,
  emptyState,
  groupState,
  failNamespace,
  namespaceWork,
  retentionOf,
  type NamespaceDeps,
  type NamespaceWork,
} from '../unit/converge.ts';
import type { NamespaceResult } from '../unit/result.ts';
import { noWork, type RunScope } from './scope.ts';
import type { RunDeps, RunOptions } from './summary.ts';
import { ListCursor } from './stream.ts';
import type { DesiredSecret, NamespaceState } from '../unit/types.ts';

/** The streamed lists a run converges from. */
export interface RunLists {
  secrets: ListCursor<SecretObject>;
  serviceAccounts: ListCursor<ServiceAccountObject>;
  pods?: ListCursor<PodObject> | undefined;
}

interface PassContext {
  deps: RunDeps;
  opts: RunOptions;
  /** Where every result goes: the run's consumers (tally, rollout, hooks). */
  report: (r: NamespaceResult, d: DesiredSecret | undefined) => Promise<void>;
}

/** One namespace off the lists: its state, or why it could not be read. */
type Observed = { namespace: string; state: NamespaceState } | { namespace: string; error: RotatorError };

/**
 * Pass 1 over every namespace as the lists bring it, then pass 2 over those that wait on pods (after the
 * settle time). Every result is reported as it happens and let go. A waiting namespace keeps only its
 * progress between the passes (its outcome so far; what it did is reported already): pass 2 reads its
 * Secrets and ServiceAccounts again, with the pods, in three streamed lists — so a run holds no state per
 * namespace, and deletions are decided on what the ServiceAccounts say after the settle time, not before it.
 * A dry run, which has nothing to wait for, reads a namespace's pods as soon as it needs them (its state is
 * simulated and cannot be read again). True when the run stopped early.
 */
export async function convergeAll(
  scope: RunScope,
  desired: readonly DesiredSecret[],
  lists: RunLists,
  cx: PassContext,
): Promise<boolean> {
  const { opts } = cx;
  const nsDeps = namespaceDeps(cx);
  const wants = (ns: string) => desired.filter((d) => scope.scopes.get(d.target)?.has(ns) === true);
  const waiting: Waiting[] = [];
  const source = observed(scope.workList, lists);
  let done = 0;
  const notStarted = await poolStream(
    source.items,
    cx.deps.config.rotation.concurrency,
    opts.signal,
    async (o) => {
      if ('error' in o) await fail(o.namespace, wants(o.namespace), o.error, cx);
      else {
        const w = namespaceWork(o.state, wants(o.namespace));
        if ((await convergeNamespace(w, nsDeps)) === 'needs-pods') waiting.push(toWaiting(w));
      }
      opts.onProgress?.(++done, scope.workList.length);
    },
  );
  const untouched = [...notStarted.map((o) => o.namespace), ...scope.workList.slice(source.taken())];
  for (const ns of untouched)
    for (const d of wants(ns))
      await cx.report(noWork(d.target, ns, 'run stopped before this namespace'), undefined);
  if (waiting.length === 0) return untouched.length > 0;
  return (await podPass(waiting, desired, nsDeps, cx)) || untouched.length > 0;
}

/** A namespace between the passes: its targets' progress (see convergeAll). */
interface Waiting {
  namespace: string;
  podsNotBefore: number;
  targets: NamespaceWork['targets'];
}

const toWaiting = (w: NamespaceWork): Waiting => ({
  namespace: w.state.namespace,
  podsNotBefore: w.state.podsNotBefore ?? 0,
  targets: w.targets,
});

/** Pass 2: the namespaces that wait on pods, each as the lists pass it. True when stopped early. */
async function podPass(
  waiting: Waiting[],
  desired: readonly DesiredSecret[],
  nsDeps: NamespaceDeps,
  cx: PassContext,
): Promise<boolean> {
  const { deps, opts } = cx;
  let notBefore = 0;
  for (const w of waiting) notBefore = Math.max(notBefore, w.podsNotBefore);
  await settleUntil(notBefore, { now: deps.now, signal: opts.signal });
  waiting.sort((a, b) => storageOrder(a.namespace, b.namespace));
  const namespaces = waiting.map((w) => w.namespace);
  const g = deps.gateway;
  const targets = desired.map((d) => d.target);
  // Opened one after another, each once the one before has brought its first page (a failure stays in
  // its cursor and fails the namespaces as they are taken): three lists reading from the same moment, each
  // a page ahead, were a run's peak of memory at 10,000 namespaces (bench/README.md, 2026-12-07).
  const secrets = new ListCursor(g.chunks('secrets', namespaces, targets), 'secrets');
  await secrets.readMore().catch(() => undefined);
  const serviceAccounts = new ListCursor(g.chunks('serviceaccounts', namespaces), 'ServiceAccounts');
  await serviceAccounts.readMore().catch(() => undefined);
  const lists: Required<RunLists> = {
    secrets,
    serviceAccounts,
    pods: new ListCursor(g.chunks('pods', namespaces), 'pods'),
  };
  // From here each namespace is let go as soon as it is done (no temporary array may keep them all: a
  // suspended async function keeps its temporaries).
  const byName = new Map<string, Waiting>();
  for (const w of waiting) byName.set(w.namespace, w);
  waiting.length = 0;
  const workOf = (ns: string, state?: NamespaceState): NamespaceWork => {
    const w = byName.get(ns) as Waiting;
    byName.delete(ns);
    return { state: { ...(state ?? emptyState(ns)), podsNotBefore: w.podsNotBefore }, targets: w.targets };
  };
  try {
    const source = observed(namespaces, lists);
    const late = await poolStream(source.items, deps.config.rotation.concurrency, opts.signal, async (o) => {
      if ('error' in o) await failNamespace(workOf(o.namespace), o.error, nsDeps);
      else await convergeNamespace(workOf(o.namespace, o.state), nsDeps);
    });
    const untouched = [...late.map((o) => o.namespace), ...namespaces.slice(source.taken())];
    for (const ns of untouched)
      await abandonNamespace(
        workOf(ns),
        'run stopped before superseded secrets were checked against pods',
        nsDeps,
      );
    return untouched.length > 0;
  } finally {
    await Promise.all([lists.secrets.close(), lists.serviceAccounts.close(), lists.pods.close()]);
  }
}

/**
 * Namespace states off the lists (with their pods when `lists.pods` is given), in the work list's order,
 * and how far the work list was taken.
 */
function observed(workList: readonly string[], lists: RunLists) {
  let taken = 0;
  async function* items(): AsyncGenerator<Observed> {
    for (const ns of workList) {
      taken++;
      const [s, a, p] = await Promise.allSettled([
        lists.secrets.take(ns),
        lists.serviceAccounts.take(ns),
        lists.pods?.take(ns),
      ]);
      const failed = [s, a, p].find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) {
        const e: unknown = failed.reason;
        if (!isRotatorError(e)) throw e;
        yield { namespace: ns, error: e };
        continue;
      }
      const state = groupState([ns], fulfilled(s), fulfilled(a)).get(ns) ?? emptyState(ns);
      if (lists.pods) state.pods = fulfilled(p);
      yield { namespace: ns, state };
    }
  }
  return { items: items(), taken: () => taken };
}

const fulfilled = <T>(r: PromiseSettledResult<T>): NonNullable<T> =>
  (r as PromiseFulfilledResult<T>).value as NonNullable<T>;

/** A namespace that could not be observed fails for every target covering it (no Event: we cannot read it). */
async function fail(
  ns: string,
  wants: readonly DesiredSecret[],
  e: RotatorError,
  cx: PassContext,
): Promise<void> {
  for (const d of wants) {
    const error = errorInfo(e);
    await cx.report({ ...noWork(d.target, ns, ''), outcome: 'failed', notes: [], error }, undefined);
    cx.deps.logger.error(
      { target: d.target, namespace: ns, code: error.code, err: error.message },
      'namespace failed',
    );
  }
}

function namespaceDeps({ deps, opts, report }: PassContext): NamespaceDeps {
  const g = deps.gateway;
  return {
    gateway: g,
    now: deps.now,
    dryRun: opts.dryRun,
    signal: opts.signal,
    beforeWrite: deps.beforeFirstWrite,
    pods: opts.dryRun ? (ns) => g.listPods([ns]) : undefined,
    retention: retentionOf(deps.config.rotation),
    logger: deps.logger,
    hooks: { result: report },
  };
}
