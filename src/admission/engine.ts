/**
 * Every call the admission side makes into the rotation engine, in one place: what the targets want
 * (from the scheduler's last full pass), which targets cover a namespace, and the per-namespace unit that
 * provisions it. When the engine's units move, this file is what follows them.
 */
import type { Logger } from '../base/logger.ts';
import type { Config, Target } from '../config/types.ts';
import { isRotatorError } from '../errors.ts';
import type { KubeGateway } from '../kube/gateway.ts';
import type { NamespaceObject } from '../kube/types.ts';
import { observeAndConverge, retentionOf } from '../rotation/unit/converge.ts';
import { selectNamespaces } from '../rotation/batch/scope.ts';
import type { DesiredSecret } from '../rotation/unit/types.ts';
import type { Covering } from './decide.ts';

export interface EngineDeps {
  config: Config;
  gateway: KubeGateway;
  logger: Logger;
  /** Awaited before a write: the scheduler's run lock (its event side's bursts). */
  beforeWrite: () => Promise<void>;
  /** A namespace the scheduler's namespace watch knows, if it does (saves a GET per admission). */
  knownNamespace?: ((name: string) => NamespaceObject | undefined) | undefined;
  /** `-n/--namespace`: the only namespaces to act in. */
  only?: readonly string[] | undefined;
}

export type Provisioned = { ok: true } | { ok: false; retryable: boolean; error: string };

/** Error codes after which the secret will exist soon anyway (the scheduler retries the namespace). */
const RETRYABLE = new Set([
  'KUBE_UNAVAILABLE',
  'KUBE_TIMEOUT',
  'KUBE_CONFLICT',
  'NOT_CONVERGED',
  'LOCK_HELD',
  'LOCK_FAILED',
  'INTERRUPTED',
]);

/** The engine as the webhook and the policy params use it. */
export class AdmissionEngine {
  readonly #d: EngineDeps;
  readonly #targets: Map<string, Target>;
  readonly #desired = new Map<string, DesiredSecret>();
  /** Provisionings in flight, per namespace: concurrent admissions of one namespace share one. */
  readonly #inflight = new Map<string, Promise<Provisioned>>();

  constructor(d: EngineDeps) {
    this.#d = d;
    this.#targets = new Map(d.config.targets.map((t) => [t.name, t]));
  }

  /** What each target wants after a full pass (the scheduler's onDesired). */
  setDesired(desired: readonly DesiredSecret[]): void {
    this.#desired.clear();
    for (const d of desired) this.#desired.set(d.target, d);
  }

  get ready(): boolean {
    return this.#desired.size > 0;
  }

  desired(): DesiredSecret[] {
    return [...this.#desired.values()];
  }

  targets(): Target[] {
    return [...this.#targets.values()];
  }

  /** The targets that cover `namespace` now, with the names they want there. */
  async covering(namespace: string): Promise<Covering[]> {
    if (!this.ready || (this.#d.only?.length && !this.#d.only.includes(namespace))) return [];
    const ns = this.#d.knownNamespace?.(namespace) ?? (await this.#namespace(namespace));
    if (!ns) return [];
    return [...this.#desired.values()].flatMap((d) => {
      const t = this.#targets.get(d.target);
      if (!t || selectNamespaces(t, [ns]).namespaces.length === 0) return [];
      return [{ target: t.name, secretBase: t.secretName, name: d.name, serviceAccounts: d.serviceAccounts }];
    });
  }

  async #namespace(name: string): Promise<NamespaceObject | undefined> {
    try {
      return await this.#d.gateway.getNamespace(name);
    } catch (e) {
      // The namespaced-Role install may not read namespaces: a named namespace is taken as it is named.
      if (isRotatorError(e, 'KUBE_FORBIDDEN')) return { name, labels: {}, terminating: false };
      throw e;
    }
  }

  async serviceAccountList(namespace: string, name: string): Promise<string[] | undefined> {
    return (await this.#d.gateway.getServiceAccount(namespace, name))?.imagePullSecrets;
  }

  /**
   * Creates our secret in `namespace` and points its ServiceAccounts at it, now, through the engine's
   * per-namespace unit — without what needs the namespace's pods or the settle time (deleting superseded
   * secrets), which the scheduler's next convergence of the namespace does. Settles after `budgetMs` at
   * the latest (the provisioning goes on; a later call joins it).
   */
  async provision(namespace: string, budgetMs: number): Promise<Provisioned> {
    let p = this.#inflight.get(namespace);
    if (!p) {
      p = this.#converge(namespace).finally(() => this.#inflight.delete(namespace));
      this.#inflight.set(namespace, p);
    }
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<Provisioned>((r) => {
      timer = setTimeout(
        () => r({ ok: false, retryable: true, error: `not done within ${budgetMs} ms` }),
        budgetMs,
      );
    });
    try {
      return await Promise.race([p, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #converge(namespace: string): Promise<Provisioned> {
    const want = (await this.covering(namespace)).flatMap((c) => this.#desired.get(c.target) ?? []);
    if (want.length === 0) return { ok: false, retryable: false, error: 'namespace not covered' };
    try {
      const results = await observeAndConverge(namespace, want, {
        gateway: this.#d.gateway,
        now: () => new Date(),
        dryRun: false,
        beforeWrite: this.#d.beforeWrite,
        retention: retentionOf(this.#d.config.rotation),
        logger: this.#d.logger,
      });
      const failed = results.find((r) => r.outcome === 'failed');
      if (!failed) return { ok: true };
      const code = failed.error?.code ?? 'INTERNAL';
      return { ok: false, retryable: RETRYABLE.has(code), error: `${code}: ${failed.error?.message ?? ''}` };
    } catch (e) {
      const code = isRotatorError(e) ? e.code : 'INTERNAL';
      return { ok: false, retryable: RETRYABLE.has(code), error: `${code}: ${(e as Error).message}` };
    }
  }
}
