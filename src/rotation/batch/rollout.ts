import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../base/logger.ts';
import type { NamespaceResult } from '../unit/result.ts';
import type { DesiredSecret } from '../unit/types.ts';

/**
 * A target's rollout of one source revision is complete: every namespace it covers uses the desired
 * Secret, no Secret of the target there holds the previous credentials any more, and nodes have had the
 * settle time to drop what they cached of them. The previous credentials may now be revoked at the
 * registry. Emitted by a batch run that is not a dry run, covered the target's whole scope (no `-n`) and
 * was not stopped — also when it had nothing to do (a later issuer revokes a leftover credential then).
 */
export interface RolloutComplete {
  target: string;
  /** The source revision now rolled out, as the Secrets' source-revision annotation shows it (never a secret). */
  revision: string;
  /** The revision id in the Secrets' names (salted digest of target and source revision). */
  revisionId: string;
  /** Namespaces the target covers (all on this revision). */
  namespaces: number;
  /** When the rollout was found complete (after the settle time). */
  at: Date;
}

/**
 * Follows a run's result stream for what blocks a target's rollout: a namespace that failed or was
 * skipped because it is terminating (it may still hold the old Secret), a superseded Secret kept with the
 * old data (`refreshSuperseded: false`, immutable). Also notes when pods' data last changed under an
 * existing name (this run's refreshes and in-place updates, and earlier runs' as the Secrets record them).
 */
export class RolloutTracker {
  readonly #blocked = new Set<string>();
  dataChangedAt: number | undefined;

  block(target: string): void {
    this.#blocked.add(target);
  }

  result(r: NamespaceResult): void {
    if (r.pending) return;
    if (r.outcome === 'failed' || r.kept.some((k) => !k.current)) this.#blocked.add(r.target);
    if (r.dataChangedAt !== undefined)
      this.dataChangedAt = Math.max(this.dataChangedAt ?? 0, r.dataChangedAt);
  }

  complete(target: string): boolean {
    return !this.#blocked.has(target);
  }
}

export interface SettleDeps {
  now: () => Date;
  signal?: AbortSignal | undefined;
  logger: Logger;
}

/**
 * After data changed under an existing Secret name (a superseded secret refreshed, an in-place update),
 * kubelets may still hold the old data for a moment, and pulls that started with it are still
 * authenticating. Waits until `settleMs` after `changedAt` (often past already: the run went on meanwhile),
 * so that revoking the old credential then fails no pull (measured on a real node:
 * test/node/zero-failed-pulls.test.ts). A stop request ends the wait early.
 */
export async function settle(changedAt: number | undefined, settleMs: number, d: SettleDeps): Promise<void> {
  if (changedAt === undefined || settleMs <= 0) return;
  const ms = changedAt + settleMs - d.now().getTime();
  if (ms <= 0) return;
  d.logger.info(
    { seconds: Math.ceil(ms / 100) / 10 },
    'existing secrets got new credentials; letting nodes pick them up before reporting',
  );
  await sleep(ms, undefined, { signal: d.signal }).catch(() => undefined);
}

/** The event of a completed rollout, logged (`rollout complete`) and handed to the subscriber. */
export async function reportRollout(
  d: DesiredSecret,
  namespaces: number,
  deps: SettleDeps,
  hooks: { rolloutComplete?(e: RolloutComplete): Promise<void> | void } | undefined,
): Promise<void> {
  const e: RolloutComplete = {
    target: d.target,
    revision: d.revision,
    revisionId: d.revisionId,
    namespaces,
    at: deps.now(),
  };
  deps.logger.info({ ...e, at: e.at.toISOString() }, 'rollout complete');
  await hooks?.rolloutComplete?.(e);
}
