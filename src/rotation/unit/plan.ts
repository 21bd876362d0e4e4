import {
  DOCKERCONFIGJSON_KEY,
  DOCKERCONFIGJSON_TYPE,
  ROTATED_AT_ANNOTATION,
  TARGET_LABEL,
} from '../../kube/labels.ts';
import { isLivePod, type SecretObject } from '../../kube/types.ts';
import { earlierNames } from './naming.ts';
import { repoint, sameList } from './repoint.ts';
import type { Action, DesiredSecret, Kept, NamespaceState, Plan, RetentionPolicy } from './types.ts';

function rotatedAt(s: SecretObject): number | undefined {
  const v = s.annotations[ROTATED_AT_ANNOTATION];
  const t = v ? Date.parse(v) : Number.NaN;
  return Number.isNaN(t) ? s.createdAt?.getTime() : t;
}

/**
 * Decides what one target must do in one namespace, from what is there now. Pure: no I/O, no clock
 * (`now` is an argument), no logging. The engine applies the actions in order and plans again until the
 * plan is empty. Ordering is the safety argument (docs/design.md, "How a rotation works"):
 *   create/fix the desired secret (and, when pods are known, an earlier name of ours a live pod lists that
 *   is missing) → repoint ServiceAccounts → refresh or delete superseded secrets,
 * and a superseded secret is deleted only when nothing in the namespace's state references it, so every
 * intermediate state keeps I1 (no dangling reference) and I2 (nothing foreign touched).
 */
export function plan(d: DesiredSecret, retention: RetentionPolicy, s: NamespaceState, now: Date): Plan {
  const notes: string[] = [];
  const ours = [...s.secrets.values()].filter((x) => x.labels[TARGET_LABEL] === d.target);
  const current = s.secrets.get(d.name);

  // 1. The desired secret exists, is ours, has the right type and the right bytes.
  const first = desiredStep(d, current);
  if (typeof first === 'string') return { actions: [], kept: [], notes, blocked: first };
  const actions: Action[] = first ? [first] : [];
  actions.push(...reviveSteps(d, s, notes));

  // 2. Selected ServiceAccounts reference the desired secret instead of our older ones.
  const older = new Set(ours.filter((x) => x.name !== d.name).map((x) => x.name));
  actions.push(...repointSteps(d, s, older, notes));

  // 3. Superseded secrets: only once the desired one exists with the right data.
  if (current === undefined || first?.kind === 'update-data') return { actions, kept: [], notes };
  const olderSecrets = ours.filter((x) => x.name !== d.name).sort((a, b) => (a.name < b.name ? -1 : 1));
  const { steps, kept, needsPods } = supersededSteps(d, olderSecrets, current, retention, s, now);
  actions.push(...steps);
  const dataChangedAt = lastDataChange(d, current, olderSecrets, kept);
  if (!needsPods) return { actions, kept, notes, dataChangedAt };
  // ServiceAccounts were repointed right after the current secret was made (by this run or one before it).
  const podsNotBefore = (rotatedAt(current) ?? now.getTime()) + retention.settleMs;
  return { actions, kept, notes, needs: 'pods', podsNotBefore, dataChangedAt };
}

/**
 * A live pod lists an earlier name of ours that is not there: it was admitted with a name that was current
 * a moment before (an admission policy's parameter or the webhook's answer racing a rotation, or the
 * ServiceAccount plugin's cached copy) in a namespace provisioned at the next revision, or the name was
 * deleted before the pod was stored. Its pulls go without credentials (docs/design.md, "Kubernetes
 * facts": a missing pull secret listed alone).
 * Creating it with the desired data cures that; from then on it is a superseded secret like any other,
 * kept while a pod lists it. Only from observed pods (batch pass 2, the scheduler's reaction to a pod).
 */
function reviveSteps(d: DesiredSecret, s: NamespaceState, notes: string[]): Action[] {
  const pods = s.pods ?? s.podsAtStart;
  if (pods === undefined) return [];
  const missing = new Map<string, string>();
  for (const p of pods) {
    if (!isLivePod(p)) continue;
    for (const n of earlierNames(d, p.imagePullSecrets)) {
      if (s.secrets.has(n) || missing.has(n)) continue;
      if (s.foreign?.has(n)) {
        notes.push(`pod ${p.name} lists secret ${n}, which is not ours; left alone`);
        continue;
      }
      missing.set(n, p.name);
    }
  }
  return [...missing]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, pod]) => ({ kind: 'create', name, forPod: pod }));
}

/** Plan.dataChangedAt: the in-place secret's last write, and the kept superseded secrets' refreshes. */
function lastDataChange(
  d: DesiredSecret,
  current: SecretObject,
  olderSecrets: readonly SecretObject[],
  kept: readonly Kept[],
): number | undefined {
  const changed = [
    ...(d.strategy === 'in-place' ? [current] : []),
    ...olderSecrets.filter((o) => kept.some((k) => k.name === o.name && k.current)),
  ].flatMap((x) => {
    // Written after its creation: its data changed under a name nodes may have cached. A creation is not.
    const at = rotatedAt(x);
    return at !== undefined && at - (x.createdAt?.getTime() ?? 0) >= CREATED_WITHIN_MS ? [at] : [];
  });
  return changed.length > 0 ? Math.max(...changed) : undefined;
}

/** A `rotated-at` this close to the creation time is the creation's stamp (API server times have 1 s resolution). */
const CREATED_WITHIN_MS = 1000;

/** The action that makes the desired secret right, none, or why it cannot be (a string). */
function desiredStep(d: DesiredSecret, current: SecretObject | undefined): Action | string | undefined {
  if (current === undefined) return { kind: 'create', name: d.name };
  if (current.labels[TARGET_LABEL] !== d.target)
    return `secret ${d.name} belongs to target "${current.labels[TARGET_LABEL] ?? '?'}"; give the targets different secretNames`;
  if (current.type !== DOCKERCONFIGJSON_TYPE)
    return `secret ${d.name} has type ${current.type} (type is immutable); delete it so it can be recreated`;
  if (current.data[DOCKERCONFIGJSON_KEY] === d.dataB64.reveal()) return undefined;
  if (current.immutable)
    return `secret ${d.name} is immutable and holds other data; delete it so it can be recreated`;
  return {
    kind: 'update-data',
    name: d.name,
    resourceVersion: current.resourceVersion,
    why: d.strategy === 'in-place' ? 'in-place' : 'repair',
  };
}

/** Repoints of the selected ServiceAccounts (by name) that still miss the desired secret or list older ones. */
function repointSteps(d: DesiredSecret, s: NamespaceState, older: Set<string>, notes: string[]): Action[] {
  const selected =
    d.serviceAccounts === '*'
      ? [...s.serviceAccounts.values()]
      : d.serviceAccounts.flatMap((name) => {
          const sa = s.serviceAccounts.get(name);
          if (!sa)
            notes.push(`serviceaccount ${name} not found; it will be pointed at ${d.name} on a later run`);
          return sa ? [sa] : [];
        });
  const out: Action[] = [];
  for (const sa of selected.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const to = repoint(sa.imagePullSecrets, older, d.name);
    if (!sameList(to, sa.imagePullSecrets))
      out.push({
        kind: 'repoint',
        serviceAccount: sa.name,
        resourceVersion: sa.resourceVersion,
        from: sa.imagePullSecrets,
        to,
      });
  }
  return out;
}

/** Deletes of superseded secrets nothing needs; the others refreshed, and kept with the reason unless that waits on pods. */
function supersededSteps(
  d: DesiredSecret,
  olderSecrets: readonly SecretObject[],
  current: SecretObject,
  retention: RetentionPolicy,
  s: NamespaceState,
  now: Date,
): { steps: Action[]; kept: Kept[]; needsPods: boolean } {
  const steps: Action[] = [];
  const kept: Kept[] = [];
  const want = d.dataB64.reveal();
  const retainUntil = (rotatedAt(current) ?? now.getTime()) + retention.retainSupersededMs;
  let needsPods = false;
  for (const old of olderSecrets) {
    const reason = keepReason(old.name, s, retainUntil, retention, now);
    if (reason === undefined) {
      steps.push({ kind: 'delete', name: old.name, uid: old.uid, resourceVersion: old.resourceVersion });
      continue;
    }
    // One that waits on the pods is decided after the settle time. With a settle time it is refreshed now
    // all the same: if a pod keeps it, it already has the new data, and the nodes' settle time after that
    // change has run alongside the wait for the pods (one wait, not two; a write more if it then goes).
    const waits = reason === PODS_UNKNOWN;
    if (waits) needsPods = true;
    else kept.push({ name: old.name, reason, current: old.data[DOCKERCONFIGJSON_KEY] === want });
    const refresh =
      (!waits || retention.settleMs > 0) &&
      retention.refreshSuperseded &&
      old.data[DOCKERCONFIGJSON_KEY] !== want &&
      !old.immutable &&
      old.type === DOCKERCONFIGJSON_TYPE;
    if (refresh)
      steps.push({
        kind: 'update-data',
        name: old.name,
        resourceVersion: old.resourceVersion,
        why: 'refresh',
      });
  }
  return { steps, kept, needsPods };
}

/** Marker: the decision depends on pods that have not been observed. */
const PODS_UNKNOWN = Symbol('pods unknown');

/** Why a superseded secret must stay, PODS_UNKNOWN, or undefined when it may be deleted now. */
function keepReason(
  name: string,
  s: NamespaceState,
  retainUntil: number,
  retention: RetentionPolicy,
  now: Date,
): string | typeof PODS_UNKNOWN | undefined {
  const saRefs = [...s.serviceAccounts.values()].filter((sa) => sa.imagePullSecrets.includes(name));
  if (saRefs.length > 0) return `referenced by serviceaccount ${saRefs.map((sa) => sa.name).join(', ')}`;
  if (now.getTime() < retainUntil) return `retained until ${new Date(retainUntil).toISOString()}`;
  if (!retention.waitForPods) return undefined;
  if (s.pods === undefined) return PODS_UNKNOWN;
  const holders = s.pods.filter((p) => isLivePod(p) && p.imagePullSecrets.includes(name));
  if (holders.length === 0) return undefined;
  const names = `${holders
    .slice(0, 3)
    .map((p) => p.name)
    .join(', ')}${holders.length > 3 ? ', …' : ''}`;
  return `${holders.length === 1 ? '1 live pod still references' : `${holders.length} live pods still reference`} it (${names})`;
}
