import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { isRotatorError, RotatorError } from '../../errors.ts';
import type { LeaseGateway, LeaseRecord, LeaseSpec } from '../../kube/gateway.ts';
import type { Logger } from '../../base/logger.ts';

export interface LockOptions {
  namespace: string;
  name: string;
  leaseDurationSeconds: number;
  identity?: string;
  now?: () => Date;
  /** The config's targets, recorded on the Lease (added to those recorded before). */
  targets?: readonly string[];
}

export type AcquireResult =
  { acquired: true } | { acquired: false; holder: string; expiresInSeconds: number };

/**
 * A coordination.k8s.io/v1 Lease held for the whole run and renewed every third of its duration, so a
 * CronJob run, a scheduler tick and a `--rotate-now` never overlap. A holder that stops renewing (killed)
 * is taken over once `leaseDurationSeconds` have passed since its last renewal.
 */
export class RunLock {
  readonly identity: string;
  readonly #g: LeaseGateway;
  readonly #o: LockOptions;
  readonly #log: Logger;
  readonly #now: () => Date;
  #held: LeaseRecord | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(gateway: LeaseGateway, options: LockOptions, logger: Logger) {
    this.#g = gateway;
    this.#o = options;
    this.#log = logger;
    this.#now = options.now ?? (() => new Date());
    this.identity = options.identity ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  }

  get where(): string {
    return `lease ${this.#o.namespace}/${this.#o.name}`;
  }

  #spec(cur: LeaseRecord | undefined, now: Date): LeaseSpec {
    const takeover = cur !== undefined && cur.holderIdentity !== this.identity;
    return {
      holderIdentity: this.identity,
      leaseDurationSeconds: this.#o.leaseDurationSeconds,
      acquireTime: cur && !takeover ? cur.acquireTime : now,
      renewTime: now,
      leaseTransitions: (cur?.leaseTransitions ?? 0) + (takeover ? 1 : 0),
      targets: [...new Set([...(cur?.targets ?? []), ...(this.#o.targets ?? [])])],
    };
  }

  /** Forgets targets nothing is left of (after `prune`), while holding the lock. */
  async forget(targets: readonly string[]): Promise<void> {
    const h = this.#held;
    if (!h || targets.length === 0) return;
    this.#held = await this.#g.updateLease(this.#o.namespace, this.#o.name, h.resourceVersion, {
      ...this.#spec(h, this.#now()),
      targets: h.targets.filter((t) => !targets.includes(t)),
    });
  }

  async tryAcquire(): Promise<AcquireResult> {
    const { namespace, name } = this.#o;
    const now = this.#now();
    const cur = await this.#g.getLease(namespace, name);
    if (cur === undefined) {
      try {
        this.#held = await this.#g.createLease(namespace, name, this.#spec(undefined, now));
        return { acquired: true };
      } catch (e) {
        if (isRotatorError(e, 'KUBE_ALREADY_EXISTS')) return this.#afterConflict();
        if (isRotatorError(e, 'KUBE_NOT_FOUND')) {
          throw new RotatorError(
            'USAGE',
            `the lock namespace "${namespace}" does not exist: create it (kubectl create namespace ${namespace}) or set lock.namespace`,
          );
        }
        throw e;
      }
    }
    const expiresAt = (cur.renewTime?.getTime() ?? 0) + cur.leaseDurationSeconds * 1000;
    const free =
      cur.holderIdentity === '' || cur.holderIdentity === this.identity || expiresAt <= now.getTime();
    if (!free)
      return {
        acquired: false,
        holder: cur.holderIdentity,
        expiresInSeconds: Math.ceil((expiresAt - now.getTime()) / 1000),
      };
    if (cur.holderIdentity !== '' && cur.holderIdentity !== this.identity) {
      this.#log.warn(
        { lease: this.where, previousHolder: cur.holderIdentity },
        'taking over an expired run lock',
      );
    }
    try {
      this.#held = await this.#g.updateLease(namespace, name, cur.resourceVersion, this.#spec(cur, now));
      return { acquired: true };
    } catch (e) {
      if (isRotatorError(e, 'KUBE_CONFLICT')) return this.#afterConflict();
      throw e;
    }
  }

  /**
   * A lock write refused (the name taken, the resourceVersion moved on) may be our own earlier attempt:
   * applied by the server, its response lost, the retry then refused. The Lease as it is now says whose
   * it is: this process's, when the write was applied.
   */
  async #ifStillOurs(): Promise<LeaseRecord | undefined> {
    const cur = await this.#g.getLease(this.#o.namespace, this.#o.name);
    return cur?.holderIdentity === this.identity ? cur : undefined;
  }

  async #afterConflict(): Promise<AcquireResult> {
    const cur = await this.#g.getLease(this.#o.namespace, this.#o.name);
    if (cur?.holderIdentity === this.identity) {
      this.#held = cur;
      return { acquired: true };
    }
    const expiresAt = (cur?.renewTime?.getTime() ?? 0) + (cur?.leaseDurationSeconds ?? 0) * 1000;
    return {
      acquired: false,
      holder: cur?.holderIdentity ?? 'unknown',
      expiresInSeconds: Math.max(0, Math.ceil((expiresAt - this.#now().getTime()) / 1000)),
    };
  }

  /** Takes the lock, or throws LOCK_HELD — or, with `wait`, polls until it is free. */
  async acquire(wait: boolean, signal?: AbortSignal): Promise<void> {
    for (;;) {
      const r = await this.tryAcquire();
      if (r.acquired) {
        this.#log.info({ lease: this.where, identity: this.identity }, 'run lock acquired');
        return;
      }
      if (!wait) {
        throw new RotatorError(
          'LOCK_HELD',
          `another run holds the ${this.where} (holder ${r.holder}, expires in ${r.expiresInSeconds}s unless renewed); not starting. Use --wait-for-lock to wait for it.`,
        );
      }
      this.#log.info({ lease: this.where, holder: r.holder }, 'waiting for the run lock');
      await sleep(
        Math.min(5000, Math.max(1000, (r.expiresInSeconds * 1000) / 2)),
        undefined,
        signal ? { signal } : undefined,
      );
    }
  }

  /** Renews every third of the duration; calls `onLost` if another process took the lock. */
  startRenewing(onLost: () => void): void {
    const every = (this.#o.leaseDurationSeconds * 1000) / 3;
    this.#timer = setInterval(() => {
      void this.#renew().catch(async (e: unknown) => {
        if (isRotatorError(e, 'KUBE_CONFLICT') || isRotatorError(e, 'KUBE_NOT_FOUND')) {
          const mine = isRotatorError(e, 'KUBE_CONFLICT')
            ? await this.#ifStillOurs().catch(() => undefined)
            : undefined;
          if (mine) {
            if (this.#timer) this.#held = mine; // our renewal was applied, its answer lost (not released since)
            return;
          }
          this.#log.error({ lease: this.where }, 'run lock lost to another holder; stopping');
          this.#stopTimer();
          onLost();
          return;
        }
        this.#log.warn({ lease: this.where, err: (e as Error).message }, 'run lock renewal failed; retrying');
        const heldUntil = (this.#held?.renewTime?.getTime() ?? 0) + this.#o.leaseDurationSeconds * 1000;
        if (this.#now().getTime() > heldUntil) {
          this.#stopTimer();
          onLost();
        }
      });
    }, every);
    this.#timer.unref();
  }

  async #renew(): Promise<void> {
    const h = this.#held;
    if (!h) return;
    this.#held = await this.#g.updateLease(this.#o.namespace, this.#o.name, h.resourceVersion, {
      ...this.#spec(h, this.#now()),
    });
  }

  #stopTimer(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Gives the lock back at once (the next run need not wait for expiry). */
  async release(): Promise<void> {
    this.#stopTimer();
    const h = this.#held;
    this.#held = undefined;
    if (!h) return;
    const free = (cur: LeaseRecord) =>
      this.#g.updateLease(this.#o.namespace, this.#o.name, cur.resourceVersion, {
        ...this.#spec(cur, this.#now()),
        holderIdentity: '',
        renewTime: undefined,
      });
    try {
      await free(h).catch(async (e: unknown) => {
        if (!isRotatorError(e, 'KUBE_CONFLICT')) throw e;
        // A renewal (or this release) applied with its response lost: free it again if it is still ours;
        // if it is not, it was released already or has another holder since — nothing to give back.
        const mine = await this.#ifStillOurs();
        if (mine) await free(mine);
      });
    } catch (e) {
      this.#log.warn(
        { lease: this.where, err: (e as Error).message },
        'could not release the run lock; it expires on its own',
      );
    }
  }
}
