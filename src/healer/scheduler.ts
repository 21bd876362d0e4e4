import type { Logger } from '../base/logger.ts';
import { Limiter } from '../base/pool.ts';
import type { Config } from '../config/types.ts';
import type { KubeGateway, Watch } from '../kube/gateway.ts';
import type { KubeRest } from '../kube/rest.ts';
import type { NamespaceObject, PodState } from '../kube/types.ts';
import type { NamespaceResult } from '../rotation/unit/result.ts';
import type { DesiredSecret } from '../rotation/unit/types.ts';
import { Healer, type HealerCluster, type HealOutcome, type HealReport } from './healer.ts';
import { healerCluster } from './kube.ts';

/** Pods decided on at once: each costs a few reads, and a burst of new namespaces brings hundreds. */
const CONCURRENCY = 8;

/**
 * The pod watch of scheduler mode — for the reactor's check of the names pods list (podSeen: with the
 * healer, or with the admission part, whose answers can race a rotation) — and the healer
 * (`rotation.healPods`), fed two ways: a watch of Pending pods (a pod stuck on
 * its pull is Pending; the kubelet's every retry changes its status, so each failure arrives as an event),
 * and the convergences of full passes and of the reactor — when one pointed a namespace's ServiceAccounts at our secret, the pods
 * there that failed before are looked at now, not at their next retry, which the kubelet's back-off can put
 * minutes away.
 */
export interface SchedulerHealer {
  /** Starts the pod watches; they run until `signal` aborts. */
  start(signal: AbortSignal): Promise<void>[];
  readonly watches: readonly Watch[];
  /** One pod as the watch reports it (also for callers that read pods themselves). */
  podChanged(pod: PodState): Promise<HealOutcome>;
  /** A convergence of `namespace` finished: heals there if it pointed a ServiceAccount at our secret. */
  converged(namespace: string, results: readonly NamespaceResult[]): Promise<HealReport | undefined>;
  /** Pod events and convergences handled so far (in flight ones finish on their own). */
  readonly handled: number;
  drain(): Promise<void>;
}

export interface SchedulerHealerDeps {
  config: Config;
  gateway: KubeGateway;
  rest: KubeRest;
  logger: Logger;
  /** What each target wants now (the last full pass's desired secrets). */
  desired: () => readonly DesiredSecret[];
  knownNamespace?: ((name: string) => NamespaceObject | undefined) | undefined;
  /** Watch these namespaces' pods one by one (`-n`, or a config naming few), else all pods at once. */
  namespaces?: readonly string[] | undefined;
  watchState?: ((up: boolean) => void) | undefined;
  /** The healer's reads and delete: healer/kube.ts on `gateway` and `rest` unless given (unit tests). */
  cluster?: HealerCluster | undefined;
  /** Delete pods admitted without our secret (`rotation.healPods`); false: only watch them for `podSeen`. */
  heal?: boolean | undefined;
  /** Every pod the watch reports (listed pods as ADDED): the reactor's check for earlier names of ours. */
  podSeen?: ((type: string, pod: PodState) => void) | undefined;
}

const repointed = (results: readonly NamespaceResult[]) =>
  results.some((r) => r.actions.some((a) => a.action.kind === 'repoint' && a.result === 'ok'));

export function schedulerHealer(d: SchedulerHealerDeps): SchedulerHealer {
  const log = d.logger.child({ mode: 'heal' });
  const healer = new Healer(
    d.cluster ??
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
  const limiter = new Limiter(CONCURRENCY);
  const inFlight = new Set<Promise<unknown>>();
  let handled = 0;
  // The same pod arrives again on each retry of its pull: one decision per pod at a time is enough.
  const queued = new Set<string>();
  const track = <T>(p: Promise<T>): Promise<T> => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p)).catch(() => undefined);
    return p;
  };
  const failed = (what: Record<string, unknown>) => (e: unknown) => {
    log.warn({ ...what, err: (e as Error).message }, 'healing a pod failed; its next event tries again');
    return undefined;
  };
  const heal = d.heal ?? true;
  const onPod = (p: PodState) => {
    // Cheap filter before queueing: only a pod whose pull failed can be a candidate.
    if (!heal || p.deleting || p.owner === undefined || p.waiting.length === 0 || queued.has(p.uid)) return;
    queued.add(p.uid);
    void track(
      limiter
        .run(() => healer.podChanged(p))
        .catch(failed({ namespace: p.namespace, pod: p.name }))
        .finally(() => (queued.delete(p.uid), handled++)),
    );
  };
  let watches: Watch[] = [];
  return {
    get watches() {
      return watches;
    },
    start(signal) {
      const handlers = {
        page: (items: PodState[]) =>
          items.forEach((p) => {
            d.podSeen?.('ADDED', p);
            onPod(p);
          }),
        event: (type: string, p: PodState) => {
          d.podSeen?.(type, p);
          if (type !== 'DELETED') onPod(p);
        },
        state: (up: boolean) => d.watchState?.(up),
      };
      watches = (d.namespaces ?? [undefined]).map((namespace) =>
        d.gateway.watch('pods', { namespace, phase: 'Pending' }, handlers),
      );
      return watches.map((w) => w.run(signal));
    },
    podChanged: (p) => healer.podChanged(p),
    async converged(namespace, results) {
      if (!heal || !repointed(results)) return undefined;
      const r = await track(
        limiter
          .run(() => healer.namespaceConverged(namespace))
          .catch(failed({ namespace }))
          .finally(() => handled++),
      );
      if (r && r.deleted.length > 0)
        log.info(
          { namespace, deleted: r.deleted.length },
          'pods healed after our entry reached the namespace',
        );
      return r;
    },
    get handled() {
      return handled;
    },
    async drain() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };
}
