import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../base/logger.ts';
import type { ResolvedCredentials } from '../credentials/resolve.ts';
import { storedRef, type CredentialSource, type IssuingSide } from '../credentials/source.ts';
import type { VerifyResult } from '../credentials/verify.ts';
import type { RegistryCredential } from '../credentials/dockerconfig.ts';
import { describeError, isRotatorError, RotatorError, type ErrorCode } from '../errors.ts';
import type { CredentialRef, ManagedCredential } from '../issuers/types.ts';
import { decideIssuance, type IssueDecision } from './decide.ts';

/** How one target's issuer is run (the `issuer` section of a target, minus the registry's own settings). */
export interface IssuancePolicy {
  rotateAfterDays: number;
  /** A credential of ours younger than this and not stored may belong to a run in flight. */
  orphanGraceMinutes: number;
  /** Adoption: the registry-side credential a value stored by hand belongs to. */
  inUse?: string | undefined;
  /** How long a fresh credential may take to work at the registry (replication) before the run gives up. */
  verifyTimeoutSeconds: number;
}

export interface IssuanceDeps {
  logger: Logger;
  now: () => Date;
  dryRun: boolean;
  /** `--reissue`: mint a new credential whatever the age. */
  reissue: boolean;
  /** Awaited before the first registry or store write (the run lock). */
  beforeWrite?: (() => Promise<void>) | undefined;
  /** The registry check the rotation itself uses (credentials/verify.ts). */
  verify: (cred: RegistryCredential) => Promise<VerifyResult>;
  signal?: AbortSignal | undefined;
  /** Told about every credential issued or revoked (Events, metrics). */
  onChange?: ((c: IssuanceChange) => void) | undefined;
}

export type IssuanceChange =
  | { kind: 'issued'; target: string; issuer: string; ref: CredentialRef; why: string }
  | { kind: 'revoked'; target: string; issuer: string; ref: CredentialRef; why: string }
  | { kind: 'failed'; target: string; issuer: string; step: string; code: ErrorCode; message: string };

/** What the issuance step of one target saw and did; `status`, the summary and dry runs show it. */
export interface IssuanceReport {
  target: string;
  issuer: string;
  /** The registry-side credential the store holds (after this step). */
  inUse: CredentialRef | undefined;
  /** Why a new credential was (or, in a dry run, would be) issued. */
  issue?: { why: string; what: string; done: boolean; verifiedAfterMs?: number | undefined } | undefined;
  blocked?: string | undefined;
  /** Registry credentials waiting to be revoked, and what they wait for. */
  pending: { ref: ManagedCredential; why: string; waitsFor: string }[];
  revoked: { ref: ManagedCredential; why: string }[];
  error?: { step: 'list' | 'issue' | 'verify' | 'revoke'; code: ErrorCode; message: string } | undefined;
}

const DAY = 86_400_000;

/**
 * One target's credential lifecycle at the source, around a rotation run: before it, mint a new credential
 * when one is due and store it (then wait until the registry accepts it); after the run has rolled the
 * stored credential out completely ("rollout complete" for its revision), revoke the registry's older ones.
 * Everything is decided from what the store and the registry say now (issuance/decide.ts), so a run killed
 * at any step is finished by the next.
 */
export class TargetIssuance {
  readonly #source: CredentialSource & { issuing: IssuingSide };
  readonly #policy: IssuancePolicy;
  readonly #deps: IssuanceDeps;
  readonly #log: Logger;
  #report: IssuanceReport;
  #firstPending = false;

  constructor(
    source: CredentialSource & { issuing: IssuingSide },
    policy: IssuancePolicy,
    deps: IssuanceDeps,
  ) {
    this.#source = source;
    this.#policy = policy;
    this.#deps = deps;
    this.#log = deps.logger.child({ target: source.target.name, issuer: source.issuing.issuer.type });
    this.#report = this.#empty();
  }

  get target(): string {
    return this.#source.target.name;
  }

  get report(): IssuanceReport {
    return this.#report;
  }

  /**
   * The store holds nothing for the target and the first credential was not issued by this run (a dry run
   * only says it would): there is nothing to roll out yet, which is no failure of the rotation.
   */
  get firstPending(): boolean {
    return this.#firstPending;
  }

  #empty(): IssuanceReport {
    return {
      target: this.target,
      issuer: this.#source.issuing.issuer.type,
      inUse: undefined,
      pending: [],
      revoked: [],
    };
  }

  async #observe(): Promise<{ current: ResolvedCredentials | undefined; atRegistry: ManagedCredential[] }> {
    const [current, atRegistry] = await Promise.all([
      this.#source.read().catch((e: unknown) => {
        if (isRotatorError(e, 'STORE_NOT_FOUND')) return undefined;
        throw e;
      }),
      this.#source.issuing.list(),
    ]);
    return { current, atRegistry };
  }

  #decide(current: ResolvedCredentials | undefined, atRegistry: ManagedCredential[]): IssueDecision {
    return decideIssuance({
      now: this.#deps.now(),
      stored: storedRef(current?.meta),
      storeHasValue: current !== undefined,
      atRegistry,
      rotateAfterMs: this.#policy.rotateAfterDays * DAY,
      graceMs: this.#policy.orphanGraceMinutes * 60_000,
      reissue: this.#deps.reissue,
      issuerClass: this.#source.issuing.issuer.class,
      adopt: this.#policy.inUse,
    });
  }

  /**
   * Before the run: issue and store a new credential when due (not in a dry run: there it says what it
   * would do). A failure here is the target's failure; the run then rolls out what the store already holds.
   */
  async beforeRun(): Promise<IssuanceReport> {
    const r = (this.#report = this.#empty());
    this.#firstPending = false;
    let obs;
    try {
      obs = await this.#observe();
    } catch (e) {
      return this.#fail('list', e);
    }
    const { current, atRegistry } = obs;
    const d = this.#decide(current, atRegistry);
    const inUse =
      storedRef(current?.meta) ??
      atRegistry.find((c) => c.id === this.#policy.inUse && current !== undefined);
    r.inUse = inUse;
    r.blocked = d.blocked;
    this.#pendingFrom(d, current);
    if (d.issue === undefined || d.blocked !== undefined) return r;
    const what = this.#source.issuing.issuer.describeIssue?.(inUse, atRegistry) ?? 'issue a new credential';
    r.issue = { why: d.issue, what, done: false };
    this.#firstPending = this.#deps.dryRun && current === undefined;
    if (this.#deps.dryRun) return r;
    await this.#deps.beforeWrite?.();
    let issued;
    try {
      issued = await this.#source.issuing.issue(current, inUse);
    } catch (e) {
      return this.#fail('issue', e);
    }
    r.issue.done = true;
    r.inUse = issued.issued;
    this.#log.info({ credential: issued.issued.label, why: d.issue }, 'credential issued and stored');
    this.#deps.onChange?.({
      kind: 'issued',
      target: this.target,
      issuer: r.issuer,
      ref: issued.issued,
      why: d.issue,
    });
    try {
      r.issue.verifiedAfterMs = await this.#verifyFresh(issued.stored);
    } catch (e) {
      return this.#fail('verify', e);
    }
    // What was in use before now waits for the new one's rollout.
    this.#pendingFrom(
      this.#decide(issued.stored, await this.#source.issuing.list().catch(() => atRegistry)),
      issued.stored,
    );
    return r;
  }

  /** Waits (bounded) until the registry accepts the fresh credential: a registry may take a while to replicate it. */
  async #verifyFresh(stored: ResolvedCredentials): Promise<number> {
    const started = Date.now();
    const deadline = started + this.#policy.verifyTimeoutSeconds * 1000;
    for (let attempt = 1; ; attempt++) {
      const results = await Promise.all(stored.creds.map((c) => this.#deps.verify(c)));
      const bad = results.find((v) => v.outcome !== 'accepted' && v.outcome !== 'no-auth-required');
      if (!bad) return Date.now() - started;
      if (Date.now() >= deadline || bad.outcome === 'not-a-registry')
        throw new RotatorError(
          bad.outcome === 'rejected' ? 'REGISTRY_REJECTED' : 'REGISTRY_UNREACHABLE',
          `target ${this.target}: registry ${bad.registry} still ${bad.outcome === 'rejected' ? 'refuses' : 'cannot check'} the credential issued ${Math.round((Date.now() - started) / 1000)} s ago (${bad.detail}); it is stored, and is rolled out once the registry accepts it`,
        );
      this.#log.info(
        { attempt, registry: bad.registry, outcome: bad.outcome },
        'waiting for the registry to accept the new credential',
      );
      // The back-off never sleeps past the deadline: the bound is what the operator configured, not up to
      // one back-off step more.
      const pause = Math.max(0, Math.min(2000 * attempt, 10_000, deadline - Date.now()));
      await sleep(pause, undefined, { signal: this.#deps.signal }).catch(() => undefined);
      if (this.#deps.signal?.aborted === true)
        throw new RotatorError('INTERRUPTED', 'stopped while waiting for the registry');
    }
  }

  #pendingFrom(d: IssueDecision, current: ResolvedCredentials | undefined): void {
    const waitsFor = `the complete rollout of ${current?.version ?? 'the stored credential'}`;
    this.#report.pending = [
      ...d.revoke.map((x) => ({ ...x, waitsFor })),
      ...d.waiting.map((w) => ({
        ref: w.ref,
        why: 'not stored (may be in flight)',
        waitsFor: `its grace time (until ${w.until.toISOString()})`,
      })),
    ];
  }

  /**
   * The run reported "rollout complete" for `revision`. If that is what the store holds, the registry's older
   * credentials are revoked now; anything else (a newer version stored meanwhile) waits for its own rollout.
   */
  async afterRollout(
    revision: string | undefined,
    /** What else must hold before anything is revoked (a fleet's acknowledgements): why not, or undefined. */
    gate?: (current: ResolvedCredentials) => Promise<string | undefined>,
  ): Promise<IssuanceReport> {
    const r = this.#report;
    if (this.#deps.dryRun || r.error) return r;
    let obs;
    try {
      obs = await this.#observe();
    } catch (e) {
      return this.#fail('list', e);
    }
    if (obs.current === undefined || obs.current.version !== revision || revision === undefined) {
      this.#log.info(
        { rolledOut: revision, stored: obs.current?.version },
        'rolled out version is not the stored one; revoking nothing',
      );
      return r;
    }
    const d = this.#decide(obs.current, obs.atRegistry);
    this.#pendingFrom(d, obs.current);
    if (d.revoke.length === 0) return r;
    let blocked: string | undefined;
    try {
      blocked = await gate?.(obs.current);
    } catch (e) {
      return this.#fail('list', e);
    }
    if (blocked !== undefined) {
      for (const p of r.pending) if (d.revoke.some((x) => x.ref.id === p.ref.id)) p.waitsFor = blocked;
      this.#log.info({ waitsFor: blocked }, 'old credentials wait for the other clusters');
      return r;
    }
    for (const x of d.revoke) {
      await this.#deps.beforeWrite?.();
      try {
        await this.#source.issuing.revoke(x.ref);
      } catch (e) {
        return this.#fail('revoke', e);
      }
      r.revoked.push(x);
      r.pending = r.pending.filter((p) => p.ref.id !== x.ref.id);
      this.#log.info({ credential: x.ref.label, why: x.why }, 'credential revoked');
      this.#deps.onChange?.({
        kind: 'revoked',
        target: this.target,
        issuer: r.issuer,
        ref: x.ref,
        why: x.why,
      });
    }
    return r;
  }

  #fail(step: NonNullable<IssuanceReport['error']>['step'], e: unknown): IssuanceReport {
    const code: ErrorCode = isRotatorError(e) ? e.code : 'INTERNAL';
    const message = isRotatorError(e) ? e.message : describeError(e);
    this.#report.error = { step, code, message };
    this.#log.error({ step, code, err: message }, 'credential issuance failed');
    this.#deps.onChange?.({
      kind: 'failed',
      target: this.target,
      issuer: this.#report.issuer,
      step,
      code,
      message,
    });
    return this.#report;
  }
}
