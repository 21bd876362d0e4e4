import type { TargetIssuanceReport } from '../issuance/run.ts';
import { renderTable, truncate } from './table.ts';

const DAY = 86_400_000;
const days = (from: Date, now: Date) => `${Math.floor((now.getTime() - from.getTime()) / DAY)}d`;

/** What happened at the source, one line per target: issued, revoked, waiting, failed. */
function done(r: TargetIssuanceReport, dryRun: boolean): string {
  const parts: string[] = [];
  if (r.error) parts.push(`FAILED (${r.error.step}): ${r.error.message}`);
  if (r.blocked) parts.push(`blocked: ${r.blocked}`);
  if (r.issue)
    parts.push(`${r.issue.done ? '' : dryRun ? 'would ' : 'not yet: '}${r.issue.what} (${r.issue.why})`);
  for (const x of r.revoked ?? []) parts.push(`revoked ${x.ref.label} (${x.why})`);
  for (const p of r.pending ?? [])
    parts.push(
      `${dryRun ? 'would later revoke' : 'to revoke'} ${p.ref.label}: ${p.why}; waits for ${p.waitsFor}`,
    );
  if (r.fleet?.error) parts.push(`fleet record FAILED: ${r.fleet.error.message}`);
  if (!r.issuing) parts.push('rolled out as stored; another cluster issues');
  return parts.join('; ') || 'nothing due';
}

/** The issuance table that follows the run's table when a target names an issuer. */
export function renderIssuance(
  reports: readonly TargetIssuanceReport[],
  dryRun: boolean,
  now = new Date(),
): string {
  return renderTable(
    ['TARGET', 'ISSUER', 'IN USE', 'ISSUED', 'AT THE SOURCE'],
    reports.map((r) => [
      r.target,
      r.issuer ?? '-',
      r.inUse?.label ?? '-',
      r.inUse ? days(r.inUse.issuedAt, now) : '-',
      truncate(done(r, dryRun), 240),
    ]),
  );
}

/** The issuance part of the `run summary` log line (no secret: labels and times only). */
export function issuanceFields(reports: readonly TargetIssuanceReport[]): unknown[] {
  return reports.map((r) => ({
    target: r.target,
    issuer: r.issuer,
    issuing: r.issuing,
    inUse: r.inUse?.label,
    issued: r.issue?.done === true ? r.issue.what : undefined,
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
