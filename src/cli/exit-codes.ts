import { ConfigError, RotatorError } from '../errors.ts';
import type { RunSummary } from '../rotation/batch/run.ts';

/**
 * The exit codes (README, "Exit codes"). This file is the only place errors and results become process exit
 * codes.
 */
export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  policy: 3,
  locked: 4,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export function exitCodeForError(e: unknown): ExitCode {
  if (e instanceof ConfigError) return EXIT.usage;
  if (e instanceof RotatorError) {
    if (e.code === 'USAGE' || e.code === 'CONFIG_INVALID' || e.code === 'KUBE_NO_CLUSTER') return EXIT.usage;
    if (e.code === 'LOCK_HELD') return EXIT.locked;
  }
  return EXIT.failed;
}

/**
 * Failures win over policy: a run that could not finish is the more urgent page. `issuanceFailed`: a step at
 * the source (mint, store, revoke, a fleet record) failed for some target.
 */
export function exitCodeForRun(s: RunSummary, issuanceFailed = false): ExitCode {
  if (s.interrupted) return EXIT.failed;
  if (s.targets.some((t) => t.outcome === 'failed') || s.tally.failed > 0 || issuanceFailed)
    return EXIT.failed;
  if (s.targets.some((t) => t.age.state === 'violation')) return EXIT.policy;
  return EXIT.ok;
}
