import type { ErrorCode } from '../../errors.ts';
import type { ActionRecord, Kept } from './types.ts';

/** How much converging one target in one namespace changed there. */
export type NamespaceOutcome =
  'provisioned' | 'rotated' | 'updated' | 'unchanged' | 'planned' | 'skipped' | 'failed';

/** What converging one target in one namespace did. */
export interface NamespaceResult {
  target: string;
  namespace: string;
  outcome: NamespaceOutcome;
  secret: string | undefined;
  actions: ActionRecord[];
  kept: Kept[];
  notes: string[];
  writes: number;
  error?: { code: ErrorCode; message: string } | undefined;
}

/** An action's kind as metrics and summaries name it: data updates split by why. */
export function actionKind(a: ActionRecord['action']): string {
  if (a.kind !== 'update-data') return a.kind;
  return a.why === 'refresh' ? 'refresh' : 'update';
}
