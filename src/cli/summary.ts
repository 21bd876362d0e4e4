import { readFileSync } from 'node:fs';
import { formatDays } from '../policy/age.ts';
import type { RunSummary } from '../rotation/batch/run.ts';
import type { NamespaceResult } from '../rotation/unit/result.ts';
import type { Action } from '../rotation/unit/types.ts';
import { renderTable, truncate } from './table.ts';

/** One action in words; `shown` maps a Secret name to how it is displayed (provisional names in a dry run). */
export function describeAction(a: Action, shown: (name: string) => string = (n) => n): string {
  switch (a.kind) {
    case 'create':
      return `create secret ${shown(a.name)}`;
    case 'update-data':
      return `${a.why === 'refresh' ? 'refresh' : 'update'} secret ${shown(a.name)}`;
    case 'repoint':
      return `serviceaccount ${a.serviceAccount}: [${a.from.map(shown).join(', ')}] -> [${a.to.map(shown).join(', ')}]`;
    case 'delete':
      return `delete secret ${shown(a.name)}`;
  }
}

function note(r: NamespaceResult): string {
  if (r.error) return r.error.message;
  const parts = [...r.notes, ...r.kept.map((k) => `kept ${k.name}: ${k.reason}`)];
  return parts.join('; ');
}

/** At most this many namespace rows in the table; the rest are counted (the log has a line for each). */
export const TABLE_ROWS = 500;

/**
 * Which namespace results the table keeps (ResultRows): the failed ones, and, when a table will be printed,
 * its rows — the namespaces that changed (every one with `verbose`), up to TABLE_ROWS.
 */
export function keepForSummary(table: boolean, verbose: boolean): (r: NamespaceResult) => boolean {
  let rows = 0;
  return (r) =>
    r.outcome === 'failed' || (table && (verbose || r.outcome !== 'unchanged') && rows++ < TABLE_ROWS);
}

/** The human-readable table that ends an interactive run (and `plan`); `kept`: ResultRows.results(). */
export function renderSummary(s: RunSummary, kept: readonly NamespaceResult[], verbose: boolean): string {
  const out: string[] = [];
  out.push(
    renderTable(
      ['TARGET', 'STORE', 'REVISION', 'AGE', 'POLICY', 'VERIFIED', 'NAMESPACES', 'RESULT'],
      s.targets.map((t) => [
        t.target,
        t.store,
        truncate(t.revision ?? '-', 40),
        formatDays(t.age.ageDays),
        t.age.state,
        t.verification.length === 0 ? '-' : t.verification.map((v) => `${v.registry}:${v.outcome}`).join(' '),
        String(t.namespaces),
        t.outcome === 'failed' ? `FAILED: ${t.error?.message ?? ''}` : 'ok',
      ]),
    ),
  );
  const shown = (name: string) => s.provisionalNames[name] ?? name;
  // Failures first: with many rows, they are what an operator looks for.
  const all = kept.filter((r) => verbose || r.outcome !== 'unchanged');
  const rows = [
    ...all.filter((r) => r.outcome === 'failed'),
    ...all.filter((r) => r.outcome !== 'failed'),
  ].slice(0, TABLE_ROWS);
  if (rows.length > 0) {
    out.push('');
    out.push(
      renderTable(
        ['TARGET', 'NAMESPACE', 'RESULT', 'SECRET', s.dryRun ? 'WOULD DO' : 'DONE', 'NOTE'],
        rows.map((r) => [
          r.target,
          r.namespace,
          r.outcome,
          r.secret === undefined ? '-' : shown(r.secret),
          r.actions.map((a) => describeAction(a.action, shown)).join('; ') || '-',
          truncate(note(r), 160),
        ]),
      ),
    );
  }
  const outcomes = s.tally.outcomeCounts();
  const listed = verbose ? s.tally.total : s.tally.total - (outcomes['unchanged'] ?? 0);
  if (listed > rows.length)
    out.push(`… and ${listed - rows.length} more (the log has a line for each namespace changed)`);
  const counts = Object.entries(outcomes)
    .map(([k, v]) => `${v} ${k}`)
    .join(', ');
  const secs = ((s.finishedAt.getTime() - s.startedAt.getTime()) / 1000).toFixed(1);
  out.push('');
  if (Object.keys(s.provisionalNames).length > 0) {
    out.push(
      '(first provisioning: "??????????" stands for the revision id, which the first real run chooses)',
    );
  }
  out.push(
    `${s.dryRun ? 'dry run: nothing written · ' : ''}${s.tally.total} namespace results${counts ? ` (${counts})` : ''} · ${s.writes} writes · ${secs}s${s.interrupted ? ' · STOPPED EARLY' : ''}`,
  );
  return out.join('\n');
}

/**
 * This process's peak resident memory. Linux's VmHWM belongs to the process image; getrusage's maxRSS
 * (elsewhere) also counts what the parent held when it forked us, so a big parent inflates it.
 */
function peakRssKb(): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]);
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS;
}

/** The `run summary` log line: machine-readable, no secrets. */

export function summaryFields(s: RunSummary): Record<string, unknown> {
  return {
    dryRun: s.dryRun,
    durationMs: s.finishedAt.getTime() - s.startedAt.getTime(),
    maxRssKb: peakRssKb(),

    writes: s.writes,
    interrupted: s.interrupted,
    settledAt: s.settledAt?.toISOString(),
    outcomes: s.tally.outcomeCounts(),
    targets: s.targets.map((t) => ({
      target: t.target,
      outcome: t.outcome,
      secret: t.secret,
      revision: t.revision,
      ageDays: t.age.ageDays === undefined ? undefined : Math.floor(t.age.ageDays),
      policy: t.age.state,
      verification: t.verification.map((v) => ({ registry: v.registry, outcome: v.outcome })),
      error: t.error,
    })),
    failed: s.tally.failures(),
  };
}
