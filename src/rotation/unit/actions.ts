import { RotatorError, isRotatorError } from '../../errors.ts';
import {
  DOCKERCONFIGJSON_KEY,
  DOCKERCONFIGJSON_TYPE,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  ROTATED_AT_ANNOTATION,
  TARGET_LABEL,
  isManaged,
} from '../../kube/labels.ts';
import type { SecretObject } from '../../kube/types.ts';
import type { Action, ActionRecord, ApplyDeps, DesiredSecret, NamespaceState } from './types.ts';

/** After an action: whether what we found differs from what we planned on (re-plan), and if it wrote. */
export interface Step {
  replan: boolean;
  write: boolean;
}
const REPLAN: Step = { replan: true, write: true };

/** One action being applied, with what it needs; each action's function returns a Step, or undefined for ok. */
interface Applying<A extends Action> {
  a: A;
  d: DesiredSecret;
  s: NamespaceState;
  deps: ApplyDeps;
  records: ActionRecord[];
}
type Of<K extends Action['kind']> = Applying<Extract<Action, { kind: K }>>;

/**
 * Applies one action to the cluster (or, in a dry run, to the observed state only) and records it. Each
 * write is guarded by a precondition; when it fails, the object is re-read and the caller re-plans.
 */
export async function applyOne(
  a: Action,
  d: DesiredSecret,
  s: NamespaceState,
  deps: ApplyDeps,
  records: ActionRecord[],
): Promise<Step> {
  const c = { d, s, deps, records };
  let r: Step | undefined;
  switch (a.kind) {
    case 'create':
      r = await create({ ...c, a });
      break;
    case 'update-data':
      r = await updateData({ ...c, a });
      break;
    case 'repoint':
      r = await repoint({ ...c, a });
      break;
    case 'delete':
      r = await remove({ ...c, a });
      break;
  }
  if (r) return r;
  records.push({ action: a, result: 'ok', at: deps.now().getTime() });
  return { replan: false, write: true };
}

const stamp = (c: Applying<Action>) => ({
  ...c.d.annotations,
  [ROTATED_AT_ANNOTATION]: c.deps.now().toISOString(),
});
const data = (c: Applying<Action>) => ({ [DOCKERCONFIGJSON_KEY]: c.d.dataB64.reveal() });

async function create(c: Of<'create'>): Promise<Step | undefined> {
  const { a, d, s, deps } = c;
  const ns = s.namespace;
  const labels = { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [TARGET_LABEL]: d.target };
  if (deps.dryRun) {
    s.secrets.set(a.name, {
      namespace: ns,
      name: a.name,
      uid: `dry-run-${a.name}`,
      resourceVersion: 'dry-run',
      type: DOCKERCONFIGJSON_TYPE,
      labels,
      annotations: stamp(c),
      data: data(c),
      immutable: false,
      createdAt: deps.now(),
    });
    return undefined;
  }
  try {
    const created = await deps.gateway.createSecret({
      namespace: ns,
      name: a.name,
      labels,
      annotations: stamp(c),
      data: data(c),
    });
    s.secrets.set(a.name, created);
    return undefined;
  } catch (e) {
    if (!isRotatorError(e, 'KUBE_ALREADY_EXISTS')) throw e;
    const found = await deps.gateway.getSecret(ns, a.name);
    if (!found) return REPLAN;
    if (!isManaged(found.labels) || found.labels[TARGET_LABEL] !== d.target) {
      if (a.forPod === undefined) throw ownership(ns, a.name, found);
      // A pod's earlier name that someone else's Secret holds: theirs to keep; the pod pulls with it.
      (s.foreign ??= new Set()).add(a.name);
      c.records.push({ action: a, result: 'conflict', at: deps.now().getTime() });
      return REPLAN;
    }
    s.secrets.set(a.name, found);
    c.records.push({ action: a, result: 'conflict', at: deps.now().getTime() });
    return REPLAN;
  }
}

async function updateData(c: Of<'update-data'>): Promise<Step | undefined> {
  const { a, s, deps } = c;
  if (deps.dryRun) {
    const cur = s.secrets.get(a.name);
    if (cur)
      s.secrets.set(a.name, { ...cur, data: data(c), annotations: { ...cur.annotations, ...stamp(c) } });
    return undefined;
  }
  try {
    const fields = { data: data(c), annotations: stamp(c) };
    s.secrets.set(a.name, await deps.gateway.updateSecret(s.namespace, a.name, a.resourceVersion, fields));
    return undefined;
  } catch (e) {
    if (isRotatorError(e, 'KUBE_CONFLICT') || isRotatorError(e, 'KUBE_NOT_FOUND'))
      return conflict(c, a.name, 'secret');
    throw e;
  }
}

async function repoint(c: Of<'repoint'>): Promise<Step | undefined> {
  const { a, s, deps } = c;
  if (deps.dryRun) {
    const cur = s.serviceAccounts.get(a.serviceAccount);
    if (cur) s.serviceAccounts.set(a.serviceAccount, { ...cur, imagePullSecrets: [...a.to] });
    return undefined;
  }
  try {
    s.serviceAccounts.set(
      a.serviceAccount,
      await deps.gateway.setImagePullSecrets(s.namespace, a.serviceAccount, a.resourceVersion, a.to),
    );
    return undefined;
  } catch (e) {
    if (isRotatorError(e, 'KUBE_CONFLICT') || isRotatorError(e, 'KUBE_NOT_FOUND'))
      return conflict(c, a.serviceAccount, 'sa');
    throw e;
  }
}

async function remove(c: Of<'delete'>): Promise<Step | undefined> {
  const { a, s, deps } = c;
  if (!deps.dryRun) {
    try {
      await deps.gateway.deleteSecret(s.namespace, a.name, a.uid, a.resourceVersion);
    } catch (e) {
      if (isRotatorError(e, 'KUBE_NOT_FOUND')) {
        s.secrets.delete(a.name);
        c.records.push({ action: a, result: 'gone', at: deps.now().getTime() });
        return { replan: false, write: true };
      }
      if (isRotatorError(e, 'KUBE_CONFLICT')) return conflict(c, a.name, 'secret');
      throw e;
    }
  }
  s.secrets.delete(a.name);
  return undefined;
}

/** A precondition failed: re-read the object (ours only) and re-plan. */
async function conflict(c: Applying<Action>, name: string, kind: 'secret' | 'sa'): Promise<Step> {
  const { s, deps } = c;
  c.records.push({ action: c.a, result: 'conflict', at: deps.now().getTime() });
  if (kind === 'secret') {
    const fresh = await deps.gateway.getSecret(s.namespace, name);
    if (fresh && isManaged(fresh.labels)) s.secrets.set(name, fresh);
    else s.secrets.delete(name);
  } else {
    const fresh = await deps.gateway.getServiceAccount(s.namespace, name);
    if (fresh) s.serviceAccounts.set(name, fresh);
    else s.serviceAccounts.delete(name);
  }
  return REPLAN;
}

function ownership(ns: string, name: string, found: SecretObject): RotatorError {
  const why = isManaged(found.labels)
    ? `is managed for target "${found.labels[TARGET_LABEL] ?? '?'}"`
    : `exists and is not managed by regcred-rotator (no ${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE} label)`;
  return new RotatorError(
    'OWNERSHIP',
    `secret ${ns}/${name} ${why}; the rotator will not touch it — rename or remove it, or change the target's secretName`,
    { details: { namespace: ns, name } },
  );
}
