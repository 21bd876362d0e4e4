import { isLivePod } from '../kube/types.ts';
import type { Finding, NamespaceView } from './checks.ts';
import { pullCause } from './events.ts';

/**
 * A pod stuck because it was admitted before our entry reached its ServiceAccount (the first pod of a new
 * namespace): it names no secret of ours, its ServiceAccount now names one that exists, and the kubelet
 * reported its pull failing. Its pull secrets were fixed at creation, and a controller does not replace a
 * Pending pod: it waits for a human. The finding says what cures it now and which of the admission
 * webhook, the admission policy and the healer would have spared it (docs/admission.md).
 */
export function firstPodFindings(v: NamespaceView, looksManaged: (name: string) => boolean): Finding[] {
  const existing = new Set(v.secrets.map((s) => s.name));
  const failedPull = new Set(
    v.events.filter((e) => e.involvedKind === 'Pod' && pullCause(e, v.namespace)).map((e) => e.involvedName),
  );
  const out: Finding[] = [];
  for (const p of v.pods) {
    if (!isLivePod(p) || p.phase !== 'Pending' || !failedPull.has(p.name)) continue;
    if (p.imagePullSecrets.some((n) => looksManaged(n) && existing.has(n))) continue;
    const sa = v.serviceAccounts.find((s) => s.name === (p.serviceAccountName ?? 'default'));
    const ours = sa?.imagePullSecrets.find((n) => looksManaged(n) && existing.has(n));
    if (!sa || !ours) continue;
    const cure = p.owner
      ? `delete it (\`kubectl -n ${v.namespace} delete pod ${p.name}\`): ${p.owner} recreates it with ${ours}`
      : `recreate it (it has no controller): it then gets ${ours} from serviceaccount/${sa.name}`;
    const healer = p.owner
      ? 'the healer (rotation.healPods: true) would delete it now that its ServiceAccount has the entry'
      : 'the healer would not touch it (no controller to recreate it)';
    out.push({
      severity: 'error',
      namespace: v.namespace,
      object: `pod/${p.name}`,
      problem: `admitted before our pull secret reached serviceaccount/${sa.name}: it names none (${p.imagePullSecrets.join(', ') || 'no pull secrets'}), its pull failed, and a pod's pull secrets never change`,
      fix: `${cure}. Prevention: the admission webhook (scheduler --webhook) provisions the namespace before such a pod is stored; the admission policy would have given it ${ours.replace(/-[0-9a-f]{10}$/, '-…')} at admission (it pulls once the secret exists); ${healer}`,
    });
  }
  return out;
}
