import type { EventGateway, EventInput } from '../kube/gateway.ts';
import type { TargetResult } from '../rotation/batch/summary.ts';
import type { NamespaceResult } from '../rotation/unit/result.ts';
import type { DesiredSecret } from '../rotation/unit/types.ts';
import type { IssuanceEvent } from '../issuance/run.ts';
import type { Logger } from '../base/logger.ts';
import { Limiter } from '../base/pool.ts';
import { span } from '../base/span.ts';

/** Where target-level Events go: the run Lease in the rotator's namespace. */
export interface EventHome {
  namespace: string;
  leaseName: string;
}

/** At most this many Events per run; the rest are summarised in one Event on the Lease. */
const BUDGET = 200;
const CONCURRENCY = 4;

/**
 * Kubernetes Events for what the rotator did: Rotated (new Secret, repointed ServiceAccounts),
 * RotationFailed, PolicyViolation, CredentialVerificationFailed. Deduplicated per run, capped, written off
 * the critical path; an Event that cannot be written is logged once and never fails a rotation.
 */
export class EventRecorder {
  readonly #g: EventGateway | undefined;
  readonly #log: Logger;
  readonly #home: EventHome;
  readonly #seen = new Set<string>();
  readonly #writers = new Limiter(CONCURRENCY);
  #pending: Promise<void>[] = [];
  #dropped = new Map<string, number>();
  #warned = false;
  sent = 0;

  constructor(gateway: EventGateway | undefined, home: EventHome, logger: Logger) {
    this.#g = gateway;
    this.#home = home;
    this.#log = logger;
  }

  emit(e: EventInput): void {
    if (!this.#g) return;
    const key = `${e.namespace}/${e.involved.kind}/${e.involved.name}/${e.reason}/${e.message}`;
    if (this.#seen.has(key)) return;
    if (this.#seen.size >= BUDGET) {
      // Past the budget only a count is kept (a big run must not hold a key per namespace).
      this.#dropped.set(e.reason, (this.#dropped.get(e.reason) ?? 0) + 1);
      return;
    }
    this.#seen.add(key);
    this.#write(e);
  }

  #write(e: EventInput): void {
    const g = this.#g;
    if (!g) return;
    const p = this.#writers
      .run(() => g.createEvent(e))
      .then(() => {
        this.sent++;
      })
      .catch((err: unknown) => {
        if (!this.#warned)
          this.#log.warn(
            { reason: e.reason, err: (err as Error).message },
            'could not write a Kubernetes Event (further failures not logged)',
          );
        this.#warned = true;
      });
    this.#pending.push(p);
  }

  /** An Event on the run Lease (target-level news that belongs to no one namespace). */
  #homeEvent(type: 'Normal' | 'Warning', reason: string, message: string): EventInput {
    const { namespace, leaseName } = this.#home;
    return {
      namespace,
      involved: { kind: 'Lease', name: leaseName, namespace, apiVersion: 'coordination.k8s.io/v1' },
      type,
      reason,
      message,
    };
  }

  #onHome(type: 'Normal' | 'Warning', reason: string, message: string): void {
    this.emit(this.#homeEvent(type, reason, message));
  }

  /**
   * A namespace result's Events: a failure, or one for each secret created, ServiceAccount repointed and
   * in-place update among its actions (sent as they are reported: a namespace that waits on its pods has
   * its first ones sent before the wait). None for a namespace the run did not converge (no `d`: skipped,
   * unreadable, stopped before it).
   */
  result(r: NamespaceResult, d: DesiredSecret | undefined): void {
    if (!d) return;
    const core = (kind: string, name: string) => ({ kind, name, namespace: r.namespace, apiVersion: 'v1' });
    if (r.outcome === 'failed') {
      this.emit({
        namespace: r.namespace,
        involved: core('ServiceAccount', 'default'),
        type: 'Warning',
        reason: 'RotationFailed',
        message: `target ${r.target}: ${r.error?.message ?? 'failed'}`,
      });
      return;
    }
    for (const a of r.actions) {
      if (a.result !== 'ok') continue;
      if (a.action.kind === 'create') {
        this.emit({
          namespace: r.namespace,
          involved: core('Secret', a.action.name),
          type: 'Normal',
          reason: 'Rotated',
          message: `created for target ${r.target} from source revision ${d.revision}`,
        });
      } else if (a.action.kind === 'repoint') {
        this.emit({
          namespace: r.namespace,
          involved: core('ServiceAccount', a.action.serviceAccount),
          type: 'Normal',
          reason: 'Rotated',
          message: `imagePullSecrets now use ${d.name} (target ${r.target}); was [${a.action.from.join(', ')}]`,
        });
      } else if (a.action.kind === 'update-data' && a.action.why === 'in-place') {
        this.emit({
          namespace: r.namespace,
          involved: core('Secret', a.action.name),
          type: 'Normal',
          reason: 'Rotated',
          message: `data updated in place for target ${r.target}`,
        });
      }
    }
  }

  targetDone(t: TargetResult): void {
    if (t.age.state === 'violation') {
      this.#onHome(
        'Warning',
        'PolicyViolation',
        `target ${t.target}: credentials are ${Math.floor(t.age.ageDays ?? 0)} days old (policy.maxAgeDays exceeded); rotate them in store "${t.store}"`,
      );
    }
    if (t.error && /^REGISTRY_/.test(t.error.code))
      this.#onHome('Warning', 'CredentialVerificationFailed', t.error.message);
    else if (t.error) this.#onHome('Warning', 'RotationFailed', t.error.message);
  }

  /** Credentials minted and revoked at the registry, issuance failures, clusters late to roll out. */
  issuance(e: IssuanceEvent): void {
    switch (e.kind) {
      case 'issued':
        return this.#onHome(
          'Normal',
          'CredentialIssued',
          `target ${e.target}: ${e.issuer} issued ${e.ref.label} (${e.why})`,
        );
      case 'revoked':
        return this.#onHome(
          'Normal',
          'CredentialRevoked',
          `target ${e.target}: ${e.issuer} revoked ${e.ref.label} (${e.why})`,
        );
      case 'failed':
        return this.#onHome(
          'Warning',
          'IssuanceFailed',
          `target ${e.target}: ${e.step} failed: ${e.message}`,
        );
      case 'late':
        return this.#onHome(
          'Warning',
          'ClusterLate',
          `target ${e.target}: cluster ${e.cluster} has not rolled out ${e.revision} after ${span(e.behindMs)}; the old credential stays valid`,
        );
    }
  }

  /** Waits for queued Events; summarises what the budget dropped. */
  async flush(): Promise<void> {
    if (this.#dropped.size > 0) {
      const parts = [...this.#dropped].map(([reason, n]) => `${n} ${reason}`);
      this.#dropped.clear();
      const e = this.#homeEvent(
        'Normal',
        'EventsSuppressed',
        `${parts.join(', ')} Events not written (more than ${BUDGET} this run); see \`regcred-rotator status\``,
      );
      this.#write(e);
    }
    while (this.#pending.length > 0) await Promise.all(this.#pending.splice(0));
  }
}
