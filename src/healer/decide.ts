/**
 * Whether to delete a pod so that its controller recreates it with our pull secret. Pure.
 *
 * A pod's pull secrets are fixed at creation (KUBE-FACTS F2): one admitted before our entry reached its
 * ServiceAccount pulls without it, fails, and stays Pending in back-off — a ReplicaSet does not replace a
 * Pending pod (F17). Deleting it is the only cure, and it is only safe when every condition holds:
 *
 * - its controller will recreate it (an owner reference with `controller: true`), and it is not already
 *   going away;
 * - it is in a namespace a target covers, under a ServiceAccount that target selects, not opted out;
 * - its pull failed (a container waiting in ErrImagePull / ImagePullBackOff, or the kubelet reported
 *   FailedToRetrieveImagePullSecret for it);
 * - it names no secret of ours that exists (one that names an existing one failed for another reason, and a
 *   new pod would fail the same way);
 * - its ServiceAccount now lists one of ours that exists, so the new pod gets it;
 * - its pull secrets are the ones its ServiceAccount gave it (a pod whose template lists its own would come
 *   back with the same list: deleting it would only start a loop).
 */
import { isNameOf } from '../rotation/unit/naming.ts';

export const PULL_FAILED_REASONS: readonly string[] = ['ErrImagePull', 'ImagePullBackOff'];

/** A pod reduced to what the decision reads. */
export interface PodView {
  namespace: string;
  name: string;
  uid: string;
  serviceAccount: string;
  pullSecrets: string[];
  /** `Kind/name` of the controlling owner, if any. */
  controller: string | undefined;
  phase: string;
  deleting: boolean;
  optedOut: boolean;
  /** Waiting reasons of its containers and init containers. */
  waiting: string[];
  /** The kubelet reported FailedToRetrieveImagePullSecret for this pod (from Events, when the caller read them). */
  missingSecretReported?: boolean | undefined;
}

/** What the targets want in the pod's namespace, and which of our secrets exist there. */
export interface TargetState {
  covering: { target: string; secretBase: string; serviceAccounts: readonly string[] | '*' }[];
  /** Names of our Secrets that exist in the namespace. */
  existing: ReadonlySet<string>;
}

export type HealDecision = { heal: true } | { heal: false; why: string };

const pullFailed = (p: PodView) =>
  p.waiting.some((r) => PULL_FAILED_REASONS.includes(r)) || p.missingSecretReported === true;

/**
 * The checks a pod alone can answer (no reads needed): the healer asks this first and reads the
 * ServiceAccount and the namespace's secrets only for pods that pass.
 */
export function podCandidate(p: PodView): HealDecision {
  if (p.deleting) return { heal: false, why: 'being deleted' };
  if (p.phase === 'Succeeded' || p.phase === 'Failed') return { heal: false, why: `pod ${p.phase}` };
  if (!p.controller) return { heal: false, why: 'no controller would recreate it' };
  if (p.optedOut) return { heal: false, why: 'opted out' };
  if (!pullFailed(p)) return { heal: false, why: 'its pull did not fail' };
  return { heal: true };
}

export function decideHeal(
  p: PodView,
  serviceAccount: { imagePullSecrets: readonly string[] } | undefined,
  t: TargetState,
): HealDecision {
  const alone = podCandidate(p);
  if (!alone.heal) return alone;
  const selected = t.covering.filter(
    (c) => c.serviceAccounts === '*' || c.serviceAccounts.includes(p.serviceAccount),
  );
  if (selected.length === 0) return { heal: false, why: 'not in a target namespace or its service account' };
  const ours = (n: string) => selected.some((c) => isNameOf(c.secretBase, n));
  if (p.pullSecrets.some((n) => ours(n) && t.existing.has(n)))
    return { heal: false, why: 'already names an existing secret of ours' };
  if (!serviceAccount) return { heal: false, why: 'service account not found' };
  if (!serviceAccount.imagePullSecrets.some((n) => ours(n) && t.existing.has(n)))
    return { heal: false, why: 'its service account has no entry of ours yet' };
  const anyOurs = (n: string) => t.covering.some((c) => isNameOf(c.secretBase, n));
  const fromServiceAccount = serviceAccount.imagePullSecrets.filter((n) => !anyOurs(n));
  const own = p.pullSecrets.filter((n) => !anyOurs(n));
  const same = own.length === fromServiceAccount.length && own.every((n, i) => n === fromServiceAccount[i]);
  if (!same) return { heal: false, why: 'lists pull secrets of its own (a new pod would too)' };
  return { heal: true };
}
