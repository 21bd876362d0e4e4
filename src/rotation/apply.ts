import { RotatorError, isRotatorError } from '../errors.ts';
import type { KubeGateway } from '../kube/gateway.ts';
import {
  DOCKERCONFIGJSON_KEY,
  DOCKERCONFIGJSON_TYPE,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  ROTATED_AT_ANNOTATION,
  TARGET_LABEL,
  isManaged,
} from '../kube/labels.ts';
import type { PodObject, SecretObject } from '../kube/types.ts';
import { plan } from './plan.ts';
import type { Action, DesiredSecret, Kept, NamespaceState, RetentionPolicy } from './types.ts';

/** A plan that is not empty after this many rounds is a bug or a fight with another writer. */
const MAX_ROUNDS = 8;

export interface ApplyDeps {
  gateway: KubeGateway;
  now: () => Date;
  dryRun: boolean;
  /**
   * Observes the namespace's pods when a plan needs them (a deletion depends on them). Absent, `converge`
   * stops there and reports the need: the batch run then lists pods for all such namespaces at once.
   */
  pods?: ((namespace: string) => Promise<PodObject[]>) | undefined;
  /** Checked between actions: a stop request ends the loop at a consistent point. */
  signal?: AbortSignal | undefined;
  /** Awaited before every write (not in dry runs): where the run takes its lock, lazily. */
  beforeWrite?: (() => Promise<void>) | undefined;
}

export interface ActionRecord {
  action: Action;
  /** `ok`, or `conflict` when a precondition failed and the engine re-read and re-planned. */
  result: 'ok' | 'conflict' | 'gone';
}

export interface ConvergeResult {
  records: ActionRecord[];
  kept: Kept[];
  notes: string[];
  writes: number;
  /** An observation the caller must supply before this namespace can finish (see ApplyDeps.pods). */
  pending: 'pods' | undefined;
}

function ownership(ns: string, name: string, found: SecretObject): RotatorError {
  const why = isManaged(found.labels)
    ? `is managed for target "${found.labels[TARGET_LABEL] ?? '?'}"`
    : `exists and is not managed by regcred-rotator (no ${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE} label)`;
  return new RotatorError(
    'OWNERSHIP',
    `secret ${ns}/${name} ${why}; the rotator will not touch it — rename or remove it, or change the target's secretName`,
    {
      details: { namespace: ns, name },
    },
  );
}

/** Applies one action; returns true when what we found differs from what we planned on (re-plan). */
async function applyOne(
  a: Action,
  d: DesiredSecret,
  s: NamespaceState,
  deps: ApplyDeps,
  records: ActionRecord[],
): Promise<{ replan: boolean; write: boolean }> {
  const g = deps.gateway;
  const ns = s.namespace;
  const stamp = () => ({ ...d.annotations, [ROTATED_AT_ANNOTATION]: deps.now().toISOString() });
  const data = () => ({ [DOCKERCONFIGJSON_KEY]: d.dataB64.reveal() });
  const conflict = async (
    name: string,
    kind: 'secret' | 'sa',
  ): Promise<{ replan: boolean; write: boolean }> => {
    records.push({ action: a, result: 'conflict' });
    if (kind === 'secret') {
      const fresh = await g.getSecret(ns, name);
      if (fresh && isManaged(fresh.labels)) s.secrets.set(name, fresh);
      else s.secrets.delete(name);
    } else {
      const fresh = await g.getServiceAccount(ns, name);
      if (fresh) s.serviceAccounts.set(name, fresh);
      else s.serviceAccounts.delete(name);
    }
    return { replan: true, write: true };
  };

  switch (a.kind) {
    case 'create': {
      const labels = { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [TARGET_LABEL]: d.target };
      if (deps.dryRun) {
        s.secrets.set(a.name, {
          namespace: ns,
          name: a.name,
          uid: `dry-run-${a.name}`,
          resourceVersion: 'dry-run',
          type: DOCKERCONFIGJSON_TYPE,
          labels,
          annotations: stamp(),
          data: data(),
          immutable: false,
          createdAt: deps.now(),
        });
        break;
      }
      try {
        s.secrets.set(
          a.name,
          await g.createSecret({ namespace: ns, name: a.name, labels, annotations: stamp(), data: data() }),
        );
      } catch (e) {
        if (!isRotatorError(e, 'KUBE_ALREADY_EXISTS')) throw e;
        const found = await g.getSecret(ns, a.name);
        if (!found) return { replan: true, write: true };
        if (!isManaged(found.labels) || found.labels[TARGET_LABEL] !== d.target)
          throw ownership(ns, a.name, found);
        s.secrets.set(a.name, found);
        records.push({ action: a, result: 'conflict' });
        return { replan: true, write: true };
      }
      break;
    }
    case 'update-data': {
      const cur = s.secrets.get(a.name);
      if (deps.dryRun) {
        if (cur)
          s.secrets.set(a.name, { ...cur, data: data(), annotations: { ...cur.annotations, ...stamp() } });
        break;
      }
      try {
        s.secrets.set(
          a.name,
          await g.updateSecret(ns, a.name, a.resourceVersion, { data: data(), annotations: stamp() }),
        );
      } catch (e) {
        if (isRotatorError(e, 'KUBE_CONFLICT') || isRotatorError(e, 'KUBE_NOT_FOUND'))
          return conflict(a.name, 'secret');
        throw e;
      }
      break;
    }
    case 'repoint': {
      const cur = s.serviceAccounts.get(a.serviceAccount);
      if (deps.dryRun) {
        if (cur) s.serviceAccounts.set(a.serviceAccount, { ...cur, imagePullSecrets: [...a.to] });
        break;
      }
      try {
        s.serviceAccounts.set(
          a.serviceAccount,
          await g.setImagePullSecrets(ns, a.serviceAccount, a.resourceVersion, a.to),
        );
      } catch (e) {
        if (isRotatorError(e, 'KUBE_CONFLICT') || isRotatorError(e, 'KUBE_NOT_FOUND'))
          return conflict(a.serviceAccount, 'sa');
        throw e;
      }
      break;
    }
    case 'delete': {
      if (!deps.dryRun) {
        try {
          await g.deleteSecret(ns, a.name, a.uid, a.resourceVersion);
        } catch (e) {
          if (isRotatorError(e, 'KUBE_NOT_FOUND')) {
            s.secrets.delete(a.name);
            records.push({ action: a, result: 'gone' });
            return { replan: false, write: true };
          }
          if (isRotatorError(e, 'KUBE_CONFLICT')) return conflict(a.name, 'secret');
          throw e;
        }
      }
      s.secrets.delete(a.name);
      break;
    }
  }
  records.push({ action: a, result: 'ok' });
  return { replan: false, write: true };
}

/**
 * observe → plan → apply, repeated until the plan is empty. Each action is one atomic API write guarded by
 * a precondition; a failed precondition re-reads that object and re-plans. Stopping between two actions
 * (crash, SIGTERM) leaves a state the next run converges from (I4).
 */
export async function converge(
  d: DesiredSecret,
  retention: RetentionPolicy,
  s: NamespaceState,
  deps: ApplyDeps,
): Promise<ConvergeResult> {
  const records: ActionRecord[] = [];
  let writes = 0;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const p = plan(d, retention, s, deps.now());
    if (p.blocked !== undefined) {
      throw new RotatorError('OWNERSHIP', `${s.namespace}: ${p.blocked}`, {
        details: { namespace: s.namespace, target: d.target },
      });
    }
    if (p.actions.length === 0 && p.needs === undefined)
      return { records, kept: p.kept, notes: p.notes, writes, pending: undefined };
    let replan = false;
    for (const a of p.actions) {
      if (deps.signal?.aborted === true) {
        throw new RotatorError(
          'INTERRUPTED',
          `${s.namespace}: stopped on request between two steps (state is consistent; the next run continues)`,
        );
      }
      if (!deps.dryRun) await deps.beforeWrite?.();
      const r = await applyOne(a, d, s, deps, records);
      if (r.write && !deps.dryRun) writes++;
      if ((replan = r.replan)) break;
    }
    // Pods are observed after this plan's writes (repoints first), so a pod created meanwhile is seen.
    if (!replan && p.needs === 'pods') {
      if (!deps.pods) return { records, kept: p.kept, notes: p.notes, writes, pending: 'pods' };
      s.pods = await deps.pods(s.namespace);
    }
  }
  throw new RotatorError(
    'NOT_CONVERGED',
    `${s.namespace}: target ${d.target} did not converge after ${MAX_ROUNDS} rounds (another writer keeps changing these objects?)`,
    {
      retryable: true,
      details: { namespace: s.namespace, target: d.target },
    },
  );
}
