import type { Logger } from '../base/logger.ts';
import type { Config } from '../config/types.ts';
import type { KubeGateway } from '../kube/gateway.ts';
import type { KubeRest } from '../kube/rest.ts';
import type { NamespaceObject } from '../kube/types.ts';
import type { DesiredSecret } from '../rotation/types.ts';
import { Healer, type HealOutcome, type HealReport } from './healer.ts';
import { healerCluster } from './kube.ts';
import type { RawPod } from './pod.ts';

/**
 * What scheduler mode feeds the healer — "pods of target namespaces changed" — for the scheduler to wire:
 * `podChanged` from a watch of pending pods (`/api/v1/pods?fieldSelector=status.phase=Pending`, ADDED and
 * MODIFIED; a pod stuck on its pull is Pending), `namespaceConverged` when a convergence pointed a
 * namespace's ServiceAccounts at our secret (its pods that failed before need not wait for their next
 * status change, which the kubelet's back-off can put minutes away).
 */
export interface PodEventSink {
  podChanged(pod: RawPod): Promise<HealOutcome>;
  namespaceConverged(namespace: string): Promise<HealReport>;
}

export interface SchedulerHealerDeps {
  config: Config;
  gateway: KubeGateway;
  rest: KubeRest;
  logger: Logger;
  /** What each target wants now (the last full pass's desired secrets). */
  desired: () => readonly DesiredSecret[];
  knownNamespace?: ((name: string) => NamespaceObject | undefined) | undefined;
}

export function schedulerHealer(d: SchedulerHealerDeps): PodEventSink {
  const log = d.logger.child({ mode: 'heal' });
  return new Healer(
    healerCluster({
      gateway: d.gateway,
      caller: [d.rest, log],
      targets: d.config.targets,
      names: () =>
        new Map(d.desired().map((x) => [x.target, { name: x.name, serviceAccounts: x.serviceAccounts }])),
      knownNamespace: d.knownNamespace,
    }),
    log,
  );
}
