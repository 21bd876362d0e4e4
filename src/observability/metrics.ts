import { readFileSync } from 'node:fs';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { httpRequest } from '../net/http.ts';
import type { RunSummary } from '../rotation/batch/summary.ts';
import type { NamespaceResult } from '../rotation/unit/result.ts';
import type { TargetIssuanceReport } from '../issuance/run.ts';
import type { Logger } from '../base/logger.ts';
import type { KubeRequest } from '../kube/request-labels.ts';
import type { StoreRequest } from '../providers/measured.ts';

// Bundled, this module's chunk sits beside dist/cli/main.js: the same relative path holds in src/ and dist/.
const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
const DAY_SECONDS = 86_400;

/** Every metric the rotator exports, declared in one place. */
export class Metrics {
  readonly registry = new Registry();
  /** Always 1; its labels say what runs (the usual `*_build_info` join target for dashboards and alerts). */
  readonly buildInfo = new Gauge({
    name: 'regcred_rotator_build_info',
    help: 'Always 1: the rotator version and the Node.js version it runs on.',
    labelNames: ['version', 'node_version'],
    registers: [this.registry],
  });
  readonly runs = new Counter({
    name: 'regcred_rotator_runs_total',
    help: 'Rotation runs by result (success, failed, policy_violation, interrupted; config_invalid, lock_held, lock_failed for runs that ended on that error).',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly actions = new Counter({
    name: 'regcred_rotator_actions_total',
    help: 'Cluster writes by kind (create, update, refresh, repoint, delete) and result (ok, conflict, gone).',
    labelNames: ['kind', 'result'],
    registers: [this.registry],
  });
  readonly lastSuccess = new Gauge({
    name: 'regcred_rotator_last_success_timestamp_seconds',
    help: 'Unix time of the last run that completed without failures.',
    registers: [this.registry],
  });
  readonly lastRun = new Gauge({
    name: 'regcred_rotator_last_run_timestamp_seconds',
    help: 'Unix time the last run finished.',
    registers: [this.registry],
  });
  /**
   * Timestamps, not ages: an alert compares them with `time()`, so it keeps counting between runs (a CronJob's
   * pushed age in days stands still until the next run).
   */
  readonly credentialUpdated = new Gauge({
    name: 'regcred_rotator_credential_updated_timestamp_seconds',
    help: "Unix time the store last wrote each target's current credentials.",
    labelNames: ['target'],
    registers: [this.registry],
  });
  readonly credentialExpiry = new Gauge({
    name: 'regcred_rotator_credential_expiry_timestamp_seconds',
    help: "Unix time each target's current credentials reach policy.maxAgeDays.",
    labelNames: ['target'],
    registers: [this.registry],
  });
  /** Deprecated, kept for one release beside `credentialUpdated`; alert on `time() - …updated_timestamp_seconds`. */
  readonly credentialAge = new Gauge({
    name: 'regcred_rotator_credential_age_days',
    help: "Deprecated (use regcred_rotator_credential_updated_timestamp_seconds): age of each target's current credentials in the store, in days.",
    labelNames: ['target'],
    registers: [this.registry],
  });
  /** Deprecated, kept for one release beside `credentialExpiry`; alert on `…expiry_timestamp_seconds - time()`. */
  readonly daysLeft = new Gauge({
    name: 'regcred_rotator_credential_days_left',
    help: "Deprecated (use regcred_rotator_credential_expiry_timestamp_seconds): days until each target's credentials reach policy.maxAgeDays (negative when past).",
    labelNames: ['target'],
    registers: [this.registry],
  });
  readonly policyViolation = new Gauge({
    name: 'regcred_rotator_policy_violation',
    help: "1 when a target's credentials are older than policy.maxAgeDays.",
    labelNames: ['target'],
    registers: [this.registry],
  });
  readonly namespaces = new Gauge({
    name: 'regcred_rotator_namespaces',
    help: 'Namespaces of the last run by target and outcome.',
    labelNames: ['target', 'outcome'],
    registers: [this.registry],
  });
  readonly namespacesFailed = new Gauge({
    name: 'regcred_rotator_namespaces_failed',
    help: 'Namespaces that failed in the last run, by target.',
    labelNames: ['target'],
    registers: [this.registry],
  });
  readonly verificationFailures = new Counter({
    name: 'regcred_rotator_verification_failures_total',
    help: 'Registry logins that did not accept the new credentials, by target and outcome.',
    labelNames: ['target', 'outcome'],
    registers: [this.registry],
  });
  readonly targetFailed = new Gauge({
    name: 'regcred_rotator_target_failed',
    help: '1 when a target failed before touching any namespace in the last run.',
    labelNames: ['target'],
    registers: [this.registry],
  });
  readonly runDuration = new Histogram({
    name: 'regcred_rotator_run_duration_seconds',
    help: 'Duration of rotation runs.',
    buckets: [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600],
    registers: [this.registry],
  });

  readonly watchLag = new Histogram({
    name: 'regcred_rotator_watch_lag_seconds',
    help: 'Scheduler mode: from a change seen by a watch to the namespace converged.',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    registers: [this.registry],
  });
  readonly conflicts = new Counter({
    name: 'regcred_rotator_conflicts_total',
    help: 'Writes refused on a resourceVersion/uid precondition (409) that the engine re-read and resolved, by action kind.',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  readonly driftRepairs = new Counter({
    name: 'regcred_rotator_drift_repairs_total',
    help: 'Scheduler mode: drift repaired between runs, by kind (namespace, serviceaccount, secret-deleted, secret-edited, resync).',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  readonly watchUp = new Gauge({
    name: 'regcred_rotator_watch_up',
    help: 'Scheduler mode: 1 while the watch of a resource is connected.',
    labelNames: ['resource'],
    registers: [this.registry],
  });

  readonly kubeRequests = new Counter({
    name: 'regcred_rotator_kube_requests_total',
    help: 'Requests to the Kubernetes API server by verb, resource and code (the HTTP status, or timeout, refused, reset, dns, tls, proxy… when there was none). Watches count when they end.',
    labelNames: ['verb', 'resource', 'code'],
    registers: [this.registry],
  });
  readonly kubeRequestDuration = new Histogram({
    name: 'regcred_rotator_kube_request_duration_seconds',
    help: 'Latency of requests to the Kubernetes API server by verb and resource (watches excluded).',
    labelNames: ['verb', 'resource'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly storeRequests = new Counter({
    name: 'regcred_rotator_store_requests_total',
    help: 'Calls to secret stores by store, type, operation (get, check, put, list) and outcome (ok, not_found, auth, permission, unreachable, unavailable, conflict, error…).',
    labelNames: ['store', 'type', 'operation', 'outcome'],
    registers: [this.registry],
  });
  readonly storeRequestDuration = new Histogram({
    name: 'regcred_rotator_store_request_duration_seconds',
    help: 'Latency of calls to secret stores by store, type and operation (a store SDK retrying counts in one call).',
    labelNames: ['store', 'type', 'operation'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly credentialsIssued = new Counter({
    name: 'regcred_rotator_credentials_issued_total',
    help: 'Registry credentials minted by an issuer (and stored), by target and issuer type.',
    labelNames: ['target', 'issuer'],
    registers: [this.registry],
  });
  readonly credentialsRevoked = new Counter({
    name: 'regcred_rotator_credentials_revoked_total',
    help: 'Registry credentials revoked by an issuer once nothing could use them any more.',
    labelNames: ['target', 'issuer'],
    registers: [this.registry],
  });
  readonly issuanceFailures = new Counter({
    name: 'regcred_rotator_issuance_failures_total',
    help: 'Issuance steps that failed (list, issue, verify, revoke, fleet), by target.',
    labelNames: ['target', 'step'],
    registers: [this.registry],
  });
  readonly issuedAt = new Gauge({
    name: 'regcred_rotator_issued_credential_timestamp_seconds',
    help: 'When the registry issued the credential in use (targets with an issuer), epoch seconds.',
    labelNames: ['target'],
    registers: [this.registry],
  });
  readonly revocationsPending = new Gauge({
    name: 'regcred_rotator_revocations_pending',
    help: 'Registry credentials of a target waiting to be revoked (for the rollout, or for other clusters).',
    labelNames: ['target'],
    registers: [this.registry],
  });
  readonly fleetClusters = new Gauge({
    name: 'regcred_rotator_fleet_clusters',
    help: "Clusters in a target's fleet ledger by state (acked, behind, late, forgotten), as the issuing cluster last read it.",
    labelNames: ['target', 'state'],
    registers: [this.registry],
  });

  constructor(withProcessMetrics = false) {
    if (withProcessMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'regcred_rotator_' });
    this.buildInfo.set({ version: VERSION, node_version: process.version }, 1);
  }

  /** Records a finished run; `result` is the run's verdict for the runs counter. */
  record(s: RunSummary, result: 'success' | 'failed' | 'policy_violation' | 'interrupted'): void {
    this.runs.inc({ result });
    const finished = s.finishedAt.getTime() / 1000;
    this.lastRun.set(finished);
    if (result === 'success' || result === 'policy_violation') this.lastSuccess.set(finished);
    this.runDuration.observe((s.finishedAt.getTime() - s.startedAt.getTime()) / 1000);
    this.namespaces.reset();
    for (const t of s.targets) {
      if (t.age.ageDays !== undefined)
        this.credentialAge.set({ target: t.target }, Math.round(t.age.ageDays * 100) / 100);
      if (t.age.daysLeft !== undefined)
        this.daysLeft.set({ target: t.target }, Math.round(t.age.daysLeft * 100) / 100);
      if (t.sourceUpdatedAt !== undefined) {
        const updated = t.sourceUpdatedAt.getTime() / 1000;
        this.credentialUpdated.set({ target: t.target }, updated);
        // ageDays + daysLeft is policy.maxAgeDays (policy/age.ts), whatever the clock said when it was judged.
        if (t.age.ageDays !== undefined && t.age.daysLeft !== undefined)
          this.credentialExpiry.set(
            { target: t.target },
            Math.round(updated + (t.age.ageDays + t.age.daysLeft) * DAY_SECONDS),
          );
      }
      this.policyViolation.set({ target: t.target }, t.age.state === 'violation' ? 1 : 0);
      this.targetFailed.set({ target: t.target }, t.outcome === 'failed' ? 1 : 0);
      for (const v of t.verification)
        if (v.outcome !== 'accepted' && v.outcome !== 'no-auth-required')
          this.verificationFailures.inc({ target: t.target, outcome: v.outcome });
      const byOutcome = s.tally.outcomes.get(t.target);
      this.namespacesFailed.set({ target: t.target }, byOutcome?.get('failed') ?? 0);
      for (const [outcome, n] of byOutcome ?? []) this.namespaces.set({ target: t.target, outcome }, n);
    }
    for (const [kind, byResult] of s.tally.actions)
      for (const [result, n] of byResult) {
        this.actions.inc({ kind, result }, n);
        if (result === 'conflict') this.conflicts.inc({ kind }, n);
      }
  }

  kubeRequest(r: KubeRequest): void {
    this.kubeRequests.inc({ verb: r.verb, resource: r.resource, code: r.code });
    if (r.verb !== 'watch')
      this.kubeRequestDuration.observe({ verb: r.verb, resource: r.resource }, r.seconds);
  }

  storeRequest(r: StoreRequest): void {
    this.storeRequests.inc({ store: r.store, type: r.type, operation: r.operation, outcome: r.outcome });
    this.storeRequestDuration.observe({ store: r.store, type: r.type, operation: r.operation }, r.seconds);
  }

  /** A run that ended on an error of its own (a bad config, the lock held or not obtainable): counted, no success. */
  recordFailure(result: 'config_invalid' | 'lock_held' | 'lock_failed' | 'failed', at: Date): void {
    this.runs.inc({ result });
    this.lastRun.set(at.getTime() / 1000);
  }

  /** What the issuance part of a run did (targets with an issuer). */
  recordIssuance(reports: readonly TargetIssuanceReport[]): void {
    this.fleetClusters.reset();
    for (const r of reports) {
      const target = r.target;
      if (r.issuer && r.issue?.done) this.credentialsIssued.inc({ target, issuer: r.issuer });
      if (r.issuer && r.revoked?.length)
        this.credentialsRevoked.inc({ target, issuer: r.issuer }, r.revoked.length);
      if (r.error) this.issuanceFailures.inc({ target, step: r.error.step });
      if (r.fleet?.error) this.issuanceFailures.inc({ target, step: 'fleet' });
      if (r.inUse) this.issuedAt.set({ target }, Math.round(r.inUse.issuedAt.getTime() / 1000));
      if (r.issuing) this.revocationsPending.set({ target }, r.pending?.length ?? 0);
      const counts = new Map<string, number>();
      for (const c of r.fleet?.clusters ?? []) counts.set(c.state, (counts.get(c.state) ?? 0) + 1);
      for (const [state, n] of counts) this.fleetClusters.set({ target, state }, n);
    }
  }

  /**
   * One namespace converged in reaction to watch events: its lag, the conflicts it resolved, and — when it
   * wrote something — the drift it repaired, by kind (why the watch queued it).
   */
  recordReaction(lagSeconds: number, kinds: readonly string[], results: readonly NamespaceResult[]): void {
    this.watchLag.observe(lagSeconds);
    for (const r of results)
      for (const a of r.actions) if (a.result === 'conflict') this.conflicts.inc({ kind: a.action.kind });
    if (results.some((r) => r.writes > 0)) for (const kind of kinds) this.driftRepairs.inc({ kind });
  }
}

/**
 * Pushes the registry to a Pushgateway (POST: replaces only the metrics it sends, so a failed run does
 * not wipe the last success timestamp). A failed push is a warning, never a failed rotation.
 */
export async function pushMetrics(url: string, job: string, m: Metrics, logger: Logger): Promise<boolean> {
  const target = `${url.replace(/\/+$/, '')}/metrics/job/${encodeURIComponent(job)}`;
  try {
    const res = await httpRequest(target, {
      method: 'POST',
      headers: { 'content-type': m.registry.contentType },
      body: await m.registry.metrics(),
      timeoutMs: 10_000,
    });
    if (res.status >= 300) {
      logger.warn({ pushgateway: url, status: res.status }, 'pushing metrics failed');
      return false;
    }
    logger.debug({ pushgateway: url }, 'metrics pushed');
    return true;
  } catch (e) {
    logger.warn({ pushgateway: url, err: (e as Error).message }, 'pushing metrics failed');
    return false;
  }
}
