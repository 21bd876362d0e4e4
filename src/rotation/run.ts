import type { Config, Target } from '../config/types.ts';
import { resolveCredentials, type FetchCache, type ResolvedCredentials } from '../credentials/resolve.ts';
import type { VerifyResult } from '../credentials/verify.ts';
import type { RegistryCredential } from '../credentials/dockerconfig.ts';
import { describeError, isRotatorError, RotatorError, type ErrorCode } from '../errors.ts';
import type { KubeGateway } from '../kube/gateway.ts';
import { TARGET_LABEL } from '../kube/labels.ts';
import type { PodObject, SecretObject, ServiceAccountObject } from '../kube/types.ts';
import type { Logger } from '../observability/logger.ts';
import { assessAge, type AgeVerdict } from '../policy/age.ts';
import type { SecretStore } from '../providers/types.ts';
import { converge, type ActionRecord, type ApplyDeps } from './apply.ts';
import { desiredSecret } from './desired.ts';
import { existingSalt, newSalt } from './naming.ts';
import { observeNamespaces } from './observe.ts';
import { selectNamespaces, type Skipped } from './targets.ts';
import type { DesiredSecret, Kept, NamespaceState, RetentionPolicy } from './types.ts';

export type NamespaceOutcome =
  'provisioned' | 'rotated' | 'updated' | 'unchanged' | 'planned' | 'skipped' | 'failed';

export interface NamespaceResult {
  target: string;
  namespace: string;
  outcome: NamespaceOutcome;
  secret: string | undefined;
  actions: ActionRecord[];
  kept: Kept[];
  notes: string[];
  writes: number;
  error?: { code: ErrorCode; message: string } | undefined;
}

export interface TargetResult {
  target: string;
  store: string;
  outcome: 'ok' | 'failed';
  secret: string | undefined;
  revision: string | undefined;
  sourceUpdatedAt: Date | undefined;
  age: AgeVerdict;
  verification: VerifyResult[];
  namespaces: number;
  warnings: string[];
  error?: { code: ErrorCode; message: string } | undefined;
}

export interface RunSummary {
  startedAt: Date;
  finishedAt: Date;
  dryRun: boolean;
  targets: TargetResult[];
  namespaces: NamespaceResult[];
  writes: number;
  interrupted: boolean;
  /**
   * Dry run of a first provisioning: the names' revision id depends on a salt that is only chosen when the
   * first Secret is written, so these names are placeholders (real name -> shown name).
   */
  provisionalNames: Record<string, string>;
}

/** Side channels of a run (Events, metrics); all optional. */
export interface RunHooks {
  namespaceDone?(r: NamespaceResult, d: DesiredSecret | undefined): Promise<void> | void;
  targetDone?(r: TargetResult): Promise<void> | void;
}

export interface RunDeps {
  config: Config;
  gateway: KubeGateway;
  logger: Logger;
  openStore: (name: string) => SecretStore;
  verify: (cred: RegistryCredential) => Promise<VerifyResult>;
  now: () => Date;
  hooks?: RunHooks | undefined;
  /**
   * Awaited before the first write of the run (the run lock). A run that has nothing to write never
   * calls it, so an unchanged source costs no write at all — not even the lock's (I3).
   */
  beforeFirstWrite?: (() => Promise<void>) | undefined;
}

export interface RunOptions {
  dryRun: boolean;
  /** Limit the run to these namespaces (-n). */
  only?: readonly string[] | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: ((done: number, total: number) => void) | undefined;
}

const errorInfo = (e: unknown): { code: ErrorCode; message: string } =>
  e instanceof RotatorError
    ? { code: e.code, message: e.message }
    : { code: 'INTERNAL', message: describeError(e) };

interface ReadyTarget {
  target: Target;
  resolved: ResolvedCredentials;
  result: TargetResult;
}

/** Fetch once per target, validate, check policy, verify against the registry. Failures touch nothing. */
async function prepareTarget(
  t: Target,
  deps: RunDeps,
  cache: FetchCache,
): Promise<ReadyTarget | TargetResult> {
  const { config, logger } = deps;
  const result: TargetResult = {
    target: t.name,
    store: t.store,
    outcome: 'ok',
    secret: undefined,
    revision: undefined,
    sourceUpdatedAt: undefined,
    age: { state: 'unknown', ageDays: undefined, daysLeft: undefined },
    verification: [],
    namespaces: 0,
    warnings: [],
  };
  try {
    const resolved = await resolveCredentials(t, deps.openStore(t.store), cache);
    result.sourceUpdatedAt = resolved.updatedAt;
    result.age = assessAge(resolved.updatedAt, deps.now(), config.policy);
    if (result.age.state === 'unknown')
      result.warnings.push(
        'the store reports no age for these credentials; the age policy cannot be checked',
      );
    if (config.rotation.verifyCredentials) {
      for (const cred of resolved.creds) {
        const v = await deps.verify(cred);
        result.verification.push(v);
        logger.info(
          { target: t.name, registry: v.registry, outcome: v.outcome, flow: v.flow },
          'registry verification',
        );
        if (v.outcome === 'no-auth-required') result.warnings.push(`${v.registry}: ${v.detail}`);
        else if (v.outcome !== 'accepted') {
          const code: ErrorCode =
            v.outcome === 'rejected'
              ? 'REGISTRY_REJECTED'
              : v.outcome === 'unreachable'
                ? 'REGISTRY_UNREACHABLE'
                : 'REGISTRY_NOT_A_REGISTRY';
          throw new RotatorError(
            code,
            `target ${t.name}: registry ${v.registry} ${v.outcome === 'rejected' ? 'rejected the new credentials' : v.outcome === 'unreachable' ? 'is unreachable' : 'did not answer like a registry'} (${v.detail}); no namespace was touched`,
            {
              details: { target: t.name, registry: v.registry },
            },
          );
        }
      }
    } else {
      result.warnings.push('credential verification is disabled (rotation.verifyCredentials: false)');
    }
    return { target: t, resolved, result };
  } catch (e) {
    result.outcome = 'failed';
    result.error = errorInfo(e);
    logger.error(
      { target: t.name, store: t.store, code: result.error.code, err: result.error.message },
      'target failed before any write',
    );
    return result;
  }
}

function outcomeOf(records: readonly ActionRecord[], dryRun: boolean, hadOlder: boolean): NamespaceOutcome {
  const ok = records.filter((r) => r.result === 'ok' && r.action.kind !== 'load-pods');
  if (ok.length === 0) return 'unchanged';
  if (dryRun) return 'planned';
  if (ok.some((r) => r.action.kind === 'create')) return hadOlder ? 'rotated' : 'provisioned';
  if (ok.some((r) => r.action.kind === 'update-data' && r.action.why === 'in-place')) return 'rotated';
  return 'updated';
}

/** Runs `worker` over `items` with at most `limit` in flight; stops taking new items once `signal` aborts. */
async function pool<T>(
  items: readonly T[],
  limit: number,
  signal: AbortSignal | undefined,
  worker: (item: T) => Promise<void>,
): Promise<T[]> {
  const queue = [...items];
  const notStarted: T[] = [];
  const run = async (): Promise<void> => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
      if (signal?.aborted === true) {
        notStarted.push(item, ...queue.splice(0));
        return;
      }
      await worker(item);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, run));
  return notStarted;
}

/**
 * One rotation pass over every target: fetch once per target, observe the cluster with a handful of
 * list calls, then converge each namespace (bounded concurrency; one namespace's failure never stops
 * the others).
 */
export async function runRotation(deps: RunDeps, opts: RunOptions): Promise<RunSummary> {
  const { config, gateway, logger } = deps;
  const startedAt = deps.now();
  const retention: RetentionPolicy = {
    retainSupersededMs: config.rotation.retainSupersededMs,
    waitForPods: config.rotation.waitForPods,
    refreshSuperseded: config.rotation.refreshSuperseded,
  };
  const cache: FetchCache = new Map();
  const prepared = await Promise.all(config.targets.map((t) => prepareTarget(t, deps, cache)));
  const ready = prepared.filter((p): p is ReadyTarget => 'resolved' in p);
  const targetResults = prepared.map((p) => ('resolved' in p ? p.result : p));

  const nsResults: NamespaceResult[] = [];
  const provisionalNames: Record<string, string> = {};
  const only = opts.only && opts.only.length > 0 ? new Set(opts.only) : undefined;
  let interrupted = false;
  if (ready.length > 0) {
    const namespaces = await observeNamespaces(
      gateway,
      ready.map((r) => r.target),
      logger,
    );
    const scopes = new Map(ready.map((r) => [r.target.name, selectNamespaces(r.target, namespaces, only)]));
    const inScope = [...new Set([...scopes.values()].flatMap((s) => s.namespaces))].sort();
    for (const r of ready) {
      for (const sk of scopes.get(r.target.name)?.skipped ?? [])
        nsResults.push(skippedResult(r.target.name, sk));
    }
    const { secrets, sas, unreadable } = await observeState(
      gateway,
      inScope,
      ready.map((r) => r.target.name),
    );
    for (const [ns, e] of unreadable) {
      for (const r of ready) {
        if (!scopes.get(r.target.name)?.namespaces.includes(ns)) continue;
        nsResults.push({
          ...skippedResult(r.target.name, { namespace: ns, reason: '' }),
          outcome: 'failed',
          notes: [],
          error: errorInfo(e),
        });
        logger.error(
          { target: r.target.name, namespace: ns, code: e.code, err: e.message },
          'namespace failed',
        );
      }
    }
    const workList = inScope.filter((ns) => !unreadable.has(ns));
    const byNs = groupState(workList, secrets, sas);

    const desired = new Map<string, DesiredSecret>();
    for (const r of ready) {
      const existing = existingSalt(r.target.name, secrets);
      const d = desiredSecret(r.target, r.resolved, existing ?? newSalt());
      desired.set(r.target.name, d);
      if (existing === undefined && opts.dryRun && d.strategy === 'swap') {
        provisionalNames[d.name] = `${r.target.secretName}-${'?'.repeat(d.revisionId.length)}`;
      }
      r.result.secret = d.name;
      r.result.revision = r.resolved.version ?? `r-${d.revisionId}`;
      r.result.namespaces = scopes.get(r.target.name)?.namespaces.length ?? 0;
    }

    // Pass 1 converges every namespace up to the point where a deletion waits for the pod list; the
    // pods of all those namespaces are then listed at once (after all repoints, so the list is fresh) and
    // pass 2 finishes them. A few list calls per run instead of one per namespace.
    const pending = new Map<string, { result: NamespaceResult; d: DesiredSecret; hadOlder: boolean }[]>();
    const finish = async (result: NamespaceResult, d: DesiredSecret) => {
      if (result.outcome !== 'unchanged' && result.outcome !== 'failed') {
        logger.info(
          {
            target: d.target,
            namespace: result.namespace,
            outcome: result.outcome,
            secret: d.name,
            actions: result.actions.map((a) => a.action.kind),
            kept: result.kept.length,
          },
          'namespace converged',
        );
      }
      nsResults.push(result);
      await deps.hooks?.namespaceDone?.(result, d);
    };
    const step = async (
      ns: string,
      d: DesiredSecret,
      result: NamespaceResult,
      hadOlder: boolean,
      loadPods: ApplyDeps['loadPods'],
    ): Promise<boolean> => {
      const state = byNs.get(ns) ?? emptyState(ns);
      try {
        const c = await converge(d, retention, state, {
          gateway,
          now: deps.now,
          dryRun: opts.dryRun,
          loadPods,
          signal: opts.signal,
          beforeWrite: deps.beforeFirstWrite,
        });
        result.actions.push(...c.records);
        Object.assign(result, { kept: c.kept, notes: c.notes, writes: result.writes + c.writes });
        result.outcome = outcomeOf(result.actions, opts.dryRun, hadOlder);
        return c.deferred;
      } catch (e) {
        // Another run is rotating, or the lock cannot be taken at all: this run stops altogether.
        if (isRotatorError(e, 'LOCK_HELD') || isRotatorError(e, 'LOCK_FAILED')) throw e;
        result.outcome = 'failed';
        result.error = errorInfo(e);
        logger.error(
          { target: d.target, namespace: ns, code: result.error.code, err: result.error.message },
          'namespace failed',
        );
        return false;
      }
    };

    let done = 0;
    const total = workList.length;
    const stopped = await pool(workList, config.rotation.concurrency, opts.signal, async (ns) => {
      const state = byNs.get(ns) ?? emptyState(ns);
      for (const r of ready) {
        const d = desired.get(r.target.name);
        if (!d || !scopes.get(r.target.name)?.namespaces.includes(ns)) continue;
        const hadOlder = [...state.secrets.values()].some(
          (s) => s.labels[TARGET_LABEL] === d.target && s.name !== d.name,
        );
        const result: NamespaceResult = {
          target: d.target,
          namespace: ns,
          outcome: 'unchanged',
          secret: d.name,
          actions: [],
          kept: [],
          notes: [],
          writes: 0,
        };
        if (await step(ns, d, result, hadOlder, async () => undefined)) {
          pending.set(ns, [...(pending.get(ns) ?? []), { result, d, hadOlder }]);
        } else {
          await finish(result, d);
        }
      }
      done++;
      opts.onProgress?.(done, total);
    });

    if (pending.size > 0) {
      const podsByNs = new Map<string, PodObject[]>([...pending.keys()].map((ns) => [ns, []]));
      let listed = true;
      try {
        for (const p of await gateway.listPods([...pending.keys()])) podsByNs.get(p.namespace)?.push(p);
      } catch (e) {
        if (!isRotatorError(e, 'KUBE_FORBIDDEN')) throw e;
        listed = false; // read them per namespace; namespaces that cannot be read fail there
      }
      const stoppedLate = await pool(
        [...pending.keys()],
        config.rotation.concurrency,
        opts.signal,
        async (ns) => {
          const st = byNs.get(ns);
          if (st && listed) st.pods = podsByNs.get(ns) ?? [];
          for (const { result, d, hadOlder } of pending.get(ns) ?? []) {
            await step(ns, d, result, hadOlder, (n) => gateway.listPods([n]));
            await finish(result, d);
          }
          pending.delete(ns);
        },
      );
      for (const ns of stoppedLate) {
        for (const { result, d } of pending.get(ns) ?? []) {
          result.notes.push('run stopped before superseded secrets were checked against pods');
          await finish(result, d);
        }
      }
      if (stoppedLate.length > 0) interrupted = true;
    }

    if (stopped.length > 0) {
      interrupted = true;
      for (const ns of stopped) {
        for (const r of ready) {
          if (scopes.get(r.target.name)?.namespaces.includes(ns))
            nsResults.push(
              skippedResult(r.target.name, { namespace: ns, reason: 'run stopped before this namespace' }),
            );
        }
      }
    }
  }
  for (const t of targetResults) await deps.hooks?.targetDone?.(t);
  nsResults.sort((a, b) =>
    a.target === b.target ? (a.namespace < b.namespace ? -1 : 1) : a.target < b.target ? -1 : 1,
  );
  return {
    startedAt,
    finishedAt: deps.now(),
    dryRun: opts.dryRun,
    targets: targetResults,
    namespaces: nsResults,
    writes: nsResults.reduce((n, r) => n + r.writes, 0),
    interrupted: interrupted || opts.signal?.aborted === true,
    provisionalNames,
  };
}

/**
 * Managed secrets and ServiceAccounts of the namespaces in scope, in batched lists. If a batched list is
 * forbidden (a namespaced-Role install that covers only some of them), each namespace is read on its own
 * and those that cannot be read are reported as failed — the others still run.
 */
async function observeState(
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

function skippedResult(target: string, sk: Skipped): NamespaceResult {
  return {
    target,
    namespace: sk.namespace,
    outcome: 'skipped',
    secret: undefined,
    actions: [],
    kept: [],
    notes: [sk.reason],
    writes: 0,
  };
}

function emptyState(namespace: string): NamespaceState {
  return { namespace, secrets: new Map(), serviceAccounts: new Map(), pods: undefined };
}

function groupState(
  namespaces: readonly string[],
  secrets: readonly SecretObject[],
  sas: readonly ServiceAccountObject[],
): Map<string, NamespaceState> {
  const m = new Map(namespaces.map((ns) => [ns, emptyState(ns)]));
  for (const s of secrets) m.get(s.namespace)?.secrets.set(s.name, s);
  for (const sa of sas) m.get(sa.namespace)?.serviceAccounts.set(sa.name, sa);
  return m;
}
