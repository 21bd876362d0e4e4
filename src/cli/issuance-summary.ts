import type { TargetIssuanceReport } from '../issuance/run.ts';

const DAY = 86_400_000;
const days = (from: Date, now: Date) => `${Math.floor((now.getTime() - from.getTime()) / DAY)}d`;

/**
 * What happened at the source, a few lines per target (the descriptions are sentences, too long for a
 * table cell): the credential in use, what was issued (or would be), revoked, is waiting, failed.
 */
export function renderIssuance(
  reports: readonly TargetIssuanceReport[],
  dryRun: boolean,
  now = new Date(),
): string {
  const out: string[] = ['AT THE SOURCE'];
  for (const r of reports) {
    const inUse = r.inUse ? `${r.inUse.label}, issued ${days(r.inUse.issuedAt, now)} ago` : 'none recorded';
    out.push(`${r.target} (${r.issuer ?? 'issuer'}): in use ${inUse}`);
    const line = (what: string) => out.push(`  ${what}`);
    if (!r.issuing) line('rolled out as stored: another cluster issues');
    if (r.error) line(`FAILED (${r.error.step}): ${r.error.message}`);
    if (r.blocked) line(`cannot issue: ${r.blocked}`);
    if (r.issue)
      line(
        `${r.issue.done ? 'issued' : dryRun ? 'would issue' : 'not issued'}: ${r.issue.what} — ${r.issue.why}`,
      );
    for (const x of r.revoked ?? []) line(`revoked: ${x.ref.label} — ${x.why}`);
    for (const p of r.pending ?? []) line(`to revoke: ${p.ref.label} — ${p.why}; waits for ${p.waitsFor}`);
    if (r.fleet?.error) line(`fleet record FAILED: ${r.fleet.error.message}`);
    if (r.fleet?.blockedBy) line(`fleet: revocation waits for ${r.fleet.blockedBy}`);
    if (out.at(-1)?.startsWith(r.target) === true) line('nothing due');
  }
  return out.join('\n');
}

/** The issuance part of the `run summary` log line (no secret: labels and times only). */
export function issuanceFields(reports: readonly TargetIssuanceReport[]): unknown[] {
  return reports.map((r) => ({
    target: r.target,
    issuer: r.issuer,
    issuing: r.issuing,
    inUse: r.inUse?.label,
    issued: r.issue?.done === true ? r.issue.what : undefined,
    /** How long the registry took to accept the new credential (replication): the wait the registry imposes. */
    verifiedAfterMs: r.issue?.done === true ? r.issue.verifiedAfterMs : undefined,
    revoked: r.revoked?.map((x) => x.ref.label),
    pending: r.pending?.map((p) => ({ credential: p.ref.label, waitsFor: p.waitsFor })),
    blocked: r.blocked,
    error: r.error,
    fleet: r.fleet && {
      cluster: r.fleet.cluster,
      blockedBy: r.fleet.blockedBy,
      error: r.fleet.error,
    },
  }));
}
