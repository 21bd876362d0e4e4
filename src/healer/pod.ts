import { OPT_OUT_ANNOTATION } from '../admission/decide.ts';
import type { PodState } from '../kube/types.ts';
import type { PodView } from './decide.ts';

export function toPodView(p: PodState): PodView {
  return {
    namespace: p.namespace,
    name: p.name,
    uid: p.uid,
    serviceAccount: p.serviceAccountName || 'default',
    pullSecrets: p.imagePullSecrets,
    controller: p.owner,
    phase: p.phase,
    deleting: p.deleting,
    optedOut: p.annotations[OPT_OUT_ANNOTATION] === 'false',
    waiting: p.waiting,
  };
}
