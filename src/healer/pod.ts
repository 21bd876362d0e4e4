import { OPT_OUT_ANNOTATION } from '../admission/decide.ts';
import type { RawMeta } from '../kube/convert.ts';
import type { PodView } from './decide.ts';

interface RawStatus {
  state?: { waiting?: { reason?: string } };
}
/** A pod as it arrives from a list or a watch: only the fields the healer reads. */
export interface RawPod {
  metadata?: RawMeta & { ownerReferences?: { kind?: string; name?: string; controller?: boolean }[] };
  spec?: { serviceAccountName?: string; imagePullSecrets?: { name?: string }[] | null };
  status?: { phase?: string; containerStatuses?: RawStatus[]; initContainerStatuses?: RawStatus[] };
}

export function toPodView(p: RawPod): PodView {
  const m = p.metadata ?? {};
  const owner = (m.ownerReferences ?? []).find((o) => o.controller === true);
  const statuses = [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])];
  return {
    namespace: m.namespace ?? '',
    name: m.name ?? '',
    uid: m.uid ?? '',
    serviceAccount: p.spec?.serviceAccountName || 'default',
    pullSecrets: (p.spec?.imagePullSecrets ?? []).map((s) => s.name ?? ''),
    controller: owner ? `${owner.kind ?? '?'}/${owner.name ?? '?'}` : undefined,
    phase: p.status?.phase ?? '',
    deleting: m.deletionTimestamp !== undefined,
    optedOut: m.annotations?.[OPT_OUT_ANNOTATION] === 'false',
    waiting: statuses.flatMap((s) => (s.state?.waiting?.reason ? [s.state.waiting.reason] : [])),
  };
}
