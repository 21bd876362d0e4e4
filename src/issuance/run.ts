import type { Logger } from '../base/logger.ts';
import type { Config, Target } from '../config/types.ts';
import type { RegistryCredential } from '../credentials/dockerconfig.ts';
import type { ResolvedCredentials } from '../credentials/resolve.ts';
import {
  issuedWriteOf,
  openSource,
  storedRef,
  type CredentialSource,
  type IssuingSide,
} from '../credentials/source.ts';
import type { VerifyResult } from '../credentials/verify.ts';
import { describeError, isRotatorError, type ErrorCode } from '../errors.ts';
import { fleetGate, type ClusterState } from '../fleet/gate.ts';
import { FleetLedger } from '../fleet/ledger.ts';
import { createIssuer } from '../issuers/registry.ts';
import type { SecretStore } from '../providers/types.ts';
import { TargetIssuance, type IssuanceChange, type IssuanceReport } from './lifecycle.ts';

const HOUR = 3_600_000;

export interface FleetReport {
  cluster: string;
  clusters: ClusterState[];
  /** Why the old credential is not revoked yet, as far as the fleet goes. */
  blockedBy?: string | undefined;
  error?: { code: ErrorCode; message: string } | undefined;
}

/** One target's issuance and fleet state after a run (dry runs: what would happen). */
export interface TargetIssuanceReport extends Partial<IssuanceReport> {
  target: string;
  /** Whether this cluster mints this target's credential (its issuer, and it is the issuing cluster). */
  issuing: boolean;
  fleet?: FleetReport | undefined;
}

export type IssuanceEvent =
  IssuanceChange | { kind: 'late'; target: string; cluster: string; behindMs: number; revision: string };

export interface IssuanceRunDeps {
  config: Config;
  stores: { get(name: string): SecretStore };
  logger: Logger;
  now: () => Date;
  verify: (cred: RegistryCredential) => Promise<VerifyResult>;
  /** This cluster's id in fleet ledgers (only asked when the config has `fleet`). */
  clusterId: () => Promise<string>;
  signal?: AbortSignal | undefined;
  onEvent?: ((e: IssuanceEvent) => void) | undefined;
}

export interface IssuanceRunOptions {
  dryRun: boolean;
  /** `--reissue`: mint new credentials now, whatever their age. */
  reissue: boolean;
  /** `--force`: clusters that may not hold revocation back (each named). */
  force: readonly string[];
  /** Awaited before the first write to a registry or a store (the run lock). */
  beforeWrite?: (() => Promise<void>) | undefined;
}

interface Entry {
  target: Target;
  source: CredentialSource;
  lifecycle: TargetIssuance | undefined;
  ledger: FleetLedger | undefined;
  report: TargetIssuanceReport;
}

/**
 * The part of a run that happens at the source, for the targets that name an issuer: before the rotation,
 * mint what is due (this cluster being the issuing one) and register in the fleet ledger; when the rotation
 * reports "rollout complete" for a target, acknowledge it in the ledger and, once every cluster has (or
 * there is no fleet), revoke the superseded credentials at the registry.
 */
export class IssuanceRun {
  readonly #d: IssuanceRunDeps;
  readonly #o: IssuanceRunOptions;
  readonly #entries = new Map<string, Entry>();
  #cluster: Promise<string> | undefined;

  constructor(deps: IssuanceRunDeps, opts: IssuanceRunOptions) {
    this.#d = deps;
    this.#o = opts;
  }

  /** Nothing to do in this run (no target names an issuer). */
  get empty(): boolean {
    return !this.#d.config.targets.some((t) => t.issuer);
  }

  #clusterId(): Promise<string> {
    this.#cluster ??= this.#d.config.fleet?.clusterId
      ? Promise.resolve(this.#d.config.fleet.clusterId)
      : this.#d.clusterId();
    return this.#cluster;
  }

  async #entry(t: Target & { issuer: NonNullable<Target['issuer']> }): Promise<Entry> {
    const existing = this.#entries.get(t.name);
    if (existing) return existing;
    const { config, logger } = this.#d;
    const store = this.#d.stores.get(t.store);
    const fleet = config.fleet;
    const cluster = fleet ? await this.#clusterId() : undefined;
    const issuing = !fleet || fleet.issuingCluster === cluster;
    const readStoreKey = async (key: string) => (await store.get(key)).value;
    const issuer = issuing
      ? createIssuer(t.issuer, {
          target: t.name,
          logger: logger.child({ target: t.name }),
          baseDir: config.baseDir,
          readStoreKey,
          maxAgeDays: config.policy.maxAgeDays,
          now: this.#d.now,
        })
      : undefined;
    const source = openSource(t, store, issuer);
    const where = issuedWriteOf(t.credentials);
    const e: Entry = {
      target: t,
      source,
      lifecycle: source.issuing
        ? new TargetIssuance(source as CredentialSource & { issuing: IssuingSide }, t.issuer, {
            logger,
            now: this.#d.now,
            dryRun: this.#o.dryRun,
            reissue: this.#o.reissue,
            beforeWrite: this.#o.beforeWrite,
            verify: this.#d.verify,
            signal: this.#d.signal,
            onChange: (c) => this.#d.onEvent?.(c),
          })
        : undefined,
      ledger: fleet && !('error' in where) ? new FleetLedger(store, `${where.key}-fleet`) : undefined,
      report: { target: t.name, issuing },
    };
    if (cluster !== undefined) e.report.fleet = { cluster, clusters: [] };
    this.#entries.set(t.name, e);
    return e;
  }

  #targets(): (Target & { issuer: NonNullable<Target['issuer']> })[] {
    return this.#d.config.targets.filter(
      (t): t is Target & { issuer: NonNullable<Target['issuer']> } => !!t.issuer,
    );
  }

  /** Before the rotation: register in fleet ledgers, mint what is due. One target's failure stays its own. */
  async before(): Promise<void> {
    await Promise.all(
      this.#targets().map(async (t) => {
        let e: Entry;
        try {
          e = await this.#entry(t);
        } catch (err) {
          this.#entries.set(t.name, {
            target: t,
            source: openSource(t, this.#d.stores.get(t.store)),
            lifecycle: undefined,
            ledger: undefined,
            report: { target: t.name, issuing: false, error: { step: 'list', ...errorInfo(err) } },
          });
          return;
        }
        if (e.ledger && e.report.fleet && !this.#o.dryRun) {
          try {
            await e.ledger.register(e.report.fleet.cluster, this.#d.now(), this.#o.beforeWrite);
          } catch (err) {
            e.report.fleet.error = errorInfo(err);
            this.#d.logger.error({ target: t.name, ...e.report.fleet.error }, 'fleet registration failed');
          }
        }
        if (e.lifecycle) Object.assign(e.report, await e.lifecycle.beforeRun());
      }),
    );
  }

  /**
   * The rotation rolled `revision` out completely in this cluster: acknowledge it (fleet), and revoke what it
   * superseded once nothing can use it any more.
   */
  async rolloutComplete(target: string, revision: string | undefined): Promise<void> {
    const e = this.#entries.get(target);
    if (!e || revision === undefined || this.#o.dryRun) return;
    const fleet = e.report.fleet;
    if (e.ledger && fleet) {
      try {
        await e.ledger.ack(fleet.cluster, revision, this.#d.now(), this.#o.beforeWrite);
        this.#d.logger.info(
          { target, cluster: fleet.cluster, revision },
          'rollout acknowledged in the fleet ledger',
        );
      } catch (err) {
        fleet.error = errorInfo(err);
        this.#d.logger.error({ target, ...fleet.error }, 'fleet acknowledgement failed');
        return; // the next run acknowledges; nothing is revoked without it
      }
    }
    if (!e.lifecycle) return;
    const gate =
      e.ledger && fleet ? (current: ResolvedCredentials) => this.#fleetGate(e, current) : undefined;
    Object.assign(e.report, await e.lifecycle.afterRollout(revision, gate));
  }

  async #fleetGate(e: Entry, current: ResolvedCredentials): Promise<string | undefined> {
    const fleet = e.report.fleet as FleetReport;
    const ledger = e.ledger as FleetLedger;
    const deadlineMs = (this.#d.config.fleet?.ackDeadlineHours ?? 24) * HOUR;
    const since = storedRef(current.meta)?.issuedAt ?? current.updatedAt ?? this.#d.now();
    const g = fleetGate({
      records: await ledger.read(),
      revision: current.version ?? '',
      since,
      now: this.#d.now(),
      deadlineMs,
      force: this.#o.force,
    });
    fleet.clusters = g.clusters;
    fleet.blockedBy = g.blockedBy;
    for (const c of g.clusters)
      if (c.state === 'late')
        this.#d.onEvent?.({
          kind: 'late',
          target: e.target.name,
          cluster: c.cluster,
          behindMs: c.behindMs ?? 0,
          revision: current.version ?? '',
        });
    return g.blockedBy;
  }

  /**
   * For `status`: each fleet target's ledger against what the store holds now (who has rolled it out, who
   * holds a revocation back). Reads only.
   */
  async inspectFleet(): Promise<void> {
    await Promise.all(
      [...this.#entries.values()].map(async (e) => {
        if (!e.ledger || !e.report.fleet) return;
        try {
          const current = await e.source.read();
          await this.#fleetGate(e, current);
        } catch (err) {
          e.report.fleet.error = errorInfo(err);
        }
      }),
    );
  }

  get reports(): TargetIssuanceReport[] {
    return [...this.#entries.values()].map((e) => e.report).sort((a, b) => (a.target < b.target ? -1 : 1));
  }

  /** Targets a dry run would issue the first credential of: the store holds nothing to roll out yet. */
  get firstPending(): Set<string> {
    return new Set(
      [...this.#entries.values()].filter((e) => e.lifecycle?.firstPending).map((e) => e.target.name),
    );
  }

  /** Whether any target's issuance or fleet step failed (the run's exit code counts it). */
  get failed(): boolean {
    return this.reports.some((r) => r.error !== undefined || r.fleet?.error !== undefined);
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.#entries.values()].flatMap((e) =>
        e.source.issuing ? [e.source.issuing.issuer.close().catch(() => undefined)] : [],
      ),
    );
  }
}

const errorInfo = (e: unknown): { code: ErrorCode; message: string } =>
  isRotatorError(e) ? { code: e.code, message: e.message } : { code: 'INTERNAL', message: describeError(e) };
