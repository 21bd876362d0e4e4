import type { Logger } from '../base/logger.ts';
import { isRotatorError } from '../errors.ts';
import { decideHeal, podCandidate, type PodView, type TargetState } from './decide.ts';
import type { PodState } from '../kube/types.ts';
import { toPodView } from './pod.ts';

/** What the healer reads and does in the cluster (healer/kube.ts over the REST API; a fake in unit tests). */
export interface HealerCluster {
  /** Targets covering `namespace` now ([] when none), as TargetState['covering']. */
  covering(namespace: string): Promise<TargetState['covering']>;
  serviceAccount(namespace: string, name: string): Promise<{ imagePullSecrets: string[] } | undefined>;
  /** Names of our Secrets (of these targets) that exist in `namespace`. */
  ourSecrets(namespace: string, targets: readonly string[]): Promise<Set<string>>;
  /** Pending pods of these namespaces (a pod stuck on its pull is Pending). */
  pendingPods(namespaces: readonly string[]): Promise<PodState[]>;
  /** Deletes the pod only if it is still the one decided on (uid precondition). */
  deletePod(namespace: string, name: string, uid: string): Promise<void>;
}

export type HealOutcome = 'deleted' | 'skipped' | 'gone';

export interface HealReport {
  checked: number;
  deleted: string[];
  /** Candidates (failed pulls) left alone, by reason. */
  skipped: Record<string, number>;
}

/**
 * Deletes pods that were admitted without our pull secret, once their ServiceAccount has it, so their
 * controllers recreate them with it (decide.ts says when that is safe). Three ways in: a pod changed (the
 * scheduler's pod watch), a namespace's ServiceAccounts were just pointed at our secret, and a whole batch
 * (the end of a `--rotate-now` run). A pod is deleted at most once per process.
 */
export class Healer {
  readonly #c: HealerCluster;
  readonly #log: Logger;
  readonly #deleted = new Set<string>();

  constructor(cluster: HealerCluster, logger: Logger) {
    this.#c = cluster;
    this.#log = logger;
  }

  /** One pod event (ADDED / MODIFIED) from a watch of the target namespaces' pods. */
  async podChanged(state: PodState): Promise<HealOutcome> {
    const pod = toPodView(state);
    if (!podCandidate(pod).heal || this.#deleted.has(pod.uid)) return 'skipped';
    const covering = await this.#c.covering(pod.namespace);
    if (covering.length === 0) return 'skipped';
    const existing = await this.#c.ourSecrets(
      pod.namespace,
      covering.map((c) => c.target),
    );
    return this.#decideAndAct(pod, { covering, existing }, undefined);
  }

  /** Our entry just reached `namespace`'s ServiceAccounts: its pods that failed before need not wait for an event. */
  async namespaceConverged(namespace: string): Promise<HealReport> {
    return this.healNamespaces([namespace]);
  }

  /** Every pending pod of these namespaces, read once. */
  async healNamespaces(namespaces: readonly string[]): Promise<HealReport> {
    const report: HealReport = { checked: 0, deleted: [], skipped: {} };
    const byNs = new Map<string, PodView[]>();
    for (const raw of await this.#c.pendingPods(namespaces)) {
      const p = toPodView(raw);
      report.checked++;
      if (!podCandidate(p).heal || this.#deleted.has(p.uid)) continue;
      byNs.set(p.namespace, [...(byNs.get(p.namespace) ?? []), p]);
    }
    for (const [ns, pods] of byNs) {
      const covering = await this.#c.covering(ns);
      const existing = covering.length
        ? await this.#c.ourSecrets(
            ns,
            covering.map((c) => c.target),
          )
        : new Set<string>();
      const accounts = new Map<string, Promise<{ imagePullSecrets: string[] } | undefined>>();
      for (const p of pods) {
        if (!accounts.has(p.serviceAccount))
          accounts.set(p.serviceAccount, this.#c.serviceAccount(ns, p.serviceAccount));
        const outcome = await this.#decideAndAct(
          p,
          { covering, existing },
          await accounts.get(p.serviceAccount),
          report,
        );
        if (outcome === 'deleted') report.deleted.push(`${ns}/${p.name}`);
      }
    }
    return report;
  }

  async #decideAndAct(
    pod: PodView,
    t: TargetState,
    sa: { imagePullSecrets: string[] } | undefined,
    report?: HealReport,
  ): Promise<HealOutcome> {
    const account = sa ?? (await this.#c.serviceAccount(pod.namespace, pod.serviceAccount));
    const d = decideHeal(pod, account, t);
    if (!d.heal) {
      if (report) report.skipped[d.why] = (report.skipped[d.why] ?? 0) + 1;
      this.#log.debug(
        { namespace: pod.namespace, pod: pod.name, why: d.why },
        'pod with a failed pull left alone',
      );
      return 'skipped';
    }
    this.#deleted.add(pod.uid);
    try {
      await this.#c.deletePod(pod.namespace, pod.name, pod.uid);
    } catch (e) {
      if (isRotatorError(e, 'KUBE_NOT_FOUND') || isRotatorError(e, 'KUBE_CONFLICT')) return 'gone';
      this.#deleted.delete(pod.uid);
      throw e;
    }
    this.#log.info(
      { namespace: pod.namespace, pod: pod.name, controller: pod.controller },
      'pod admitted without our pull secret deleted; its controller recreates it with the secret',
    );
    return 'deleted';
  }
}
