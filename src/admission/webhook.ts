import type { Logger } from '../base/logger.ts';
import { decide, patchFor, readReview } from './decide.ts';
import type { AdmissionEngine } from './engine.ts';
import type { AdmissionAnswer } from './server.ts';

/**
 * One pod CREATE: decide (decide.ts); when the pod gets our name and this is not a dry run, provision the
 * namespace first, synchronously, within `budgetMs` (create the secret, repoint the ServiceAccount), so the
 * pod is stored naming a secret that exists. Then the patch. A provisioning that is merely late or hit a
 * passing error still patches: the secret is on its way (the scheduler retries the namespace), and a pod
 * naming it pulls at its next try, while a pod without it would never get it. One that cannot succeed (a
 * foreign Secret holds the name, a permission is missing) does not: the pod is left as it came.
 */
export function reviewHandler(engine: AdmissionEngine, log: Logger, budgetMs: number) {
  return async (review: unknown): Promise<AdmissionAnswer> => {
    const pod = readReview(review);
    if ('skip' in pod) return {};
    const covering = await engine.covering(pod.namespace);
    if (covering.length === 0) return {};
    const saList =
      pod.pullSecrets.length > 0 ? await engine.serviceAccountList(pod.namespace, pod.serviceAccount) : [];
    const d = decide(pod, covering, saList);
    if (!d.inject) {
      log.debug({ namespace: pod.namespace, pod: pod.pod, why: d.why }, 'pod left as it came');
      return {};
    }
    const names = d.targets.map((t) => t.name);
    if (!pod.dryRun) {
      const t0 = performance.now();
      const p = await engine.provision(pod.namespace, budgetMs);
      const ms = Math.round(performance.now() - t0);
      if (!p.ok && !p.retryable) {
        log.warn(
          { namespace: pod.namespace, pod: pod.pod, err: p.error, ms },
          'namespace could not be provisioned; pod left as it came',
        );
        return {};
      }
      if (!p.ok)
        log.warn(
          { namespace: pod.namespace, pod: pod.pod, err: p.error, ms },
          'namespace not provisioned in time; pod gets the name anyway',
        );
      else log.info({ namespace: pod.namespace, pod: pod.pod, secrets: names, ms }, 'pull secret injected');
    }
    return { patch: patchFor(pod, names) };
  };
}
