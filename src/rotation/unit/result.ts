import type { ErrorCode } from '../../errors.ts';
import type { ActionRecord, Kept } from './types.ts';

/** How much converging one target in one namespace changed there. */
export type NamespaceOutcome =
  'provisioned' | 'rotated' | 'updated' | 'unchanged' | 'planned' | 'skipped' | 'failed';

/**
 * What converging one target in one namespace did, reported as it happens: a namespace that waits on its
 * pods reports what it did so far (`pending`), then the rest once it finishes (its actions and writes add
 * up; the last result's outcome, notes and kept are the whole's).
 */
export interface NamespaceResult {
  target: string;
  namespace: string;
  /** The outcome so far: final unless `pending`. */
  outcome: NamespaceOutcome;
  secret: string | undefined;
  /** What this result reports: done since the previous result of this namespace and target. */
  actions: ActionRecord[];
  kept: Kept[];
  notes: string[];
  writes: number;
  error?: { code: ErrorCode; message: string } | undefined;
  /** Set while the namespace waits on its pods: more follows. */
  pending?: 'pods' | undefined;
  /** Plan.dataChangedAt of the namespace once converged. */
  dataChangedAt?: number | undefined;
}

/** An action's kind as metrics and summaries name it: data updates split by why. */
export function actionKind(a: ActionRecord['action']): string {
  if (a.kind !== 'update-data') return a.kind;
  return a.why === 'refresh' ? 'refresh' : 'update';
}
