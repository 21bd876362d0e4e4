import type { RegistryCredential } from '../../credentials/dockerconfig.ts';
import type { VerifyResult } from '../../credentials/verify.ts';
import type { Config } from '../../config/types.ts';
import type { ErrorCode } from '../../errors.ts';
import type { KubeGateway } from '../../kube/gateway.ts';
import type { Logger } from '../../base/logger.ts';
import type { AgeVerdict } from '../../policy/age.ts';
import type { SecretStore } from '../../providers/types.ts';
import type { RunTally } from './tally.ts';
import type { NamespaceHooks } from '../unit/converge.ts';
import type { RolloutComplete } from './rollout.ts';
import type { DesiredSecret } from '../unit/types.ts';

/** What a run reports, and what it needs. */
export interface TargetResult {
  target: string;
  store: string;
  outcome: 'ok' | 'failed';
  secret: string | undefined;
  revision: string | undefined;
  sourceUpdatedAt: Date | undefined;
  age: AgeVerdict;
  verification: VerifyResult[];
  namespaces: number;
  warnings: string[];
  error?: { code: ErrorCode; message: string } | undefined;
}

export interface RunSummary {
  startedAt: Date;
  finishedAt: Date;
  dryRun: boolean;
  targets: TargetResult[];
  /** Every namespace result, counted (the results themselves went to RunHooks.result as they happened). */
  tally: RunTally;
  writes: number;
  interrupted: boolean;
  /** Set when the run waited `rotation.settleSeconds` after changing existing secrets' data (rollout.ts). */
  settledAt?: Date | undefined;
  /**
   * Dry run of a first provisioning: the names' revision id depends on a salt that is only chosen when the
   * first Secret is written, so these names are placeholders (real name -> shown name).
   */
  provisionalNames: Record<string, string>;
}

/** Side channels of a run (Events, metrics); all optional. */
export interface RunHooks extends NamespaceHooks {
  targetDone?(r: TargetResult): Promise<void> | void;
  /**
   * What each ready target wants this run (not in dry runs), and the namespaces this run observed: the
   * scheduler reacts to events with these, and converges namespaces its watch knows but the run did not see.
   */
  desiredReady?(d: readonly DesiredSecret[], observed: ReadonlySet<string>): void;
  /** A target's rollout is complete (rollout.ts says when): its previous credentials may be revoked. */
  rolloutComplete?(e: RolloutComplete): Promise<void> | void;
}

export interface RunDeps {
  config: Config;
  gateway: KubeGateway;
  logger: Logger;
  openStore: (name: string) => SecretStore;
  verify: (cred: RegistryCredential) => Promise<VerifyResult>;
  now: () => Date;
  hooks?: RunHooks | undefined;
  /**
   * Awaited before the first write of the run (the run lock). A run that has nothing to write never
   * calls it, so an unchanged source costs no write at all — not even the lock's (I3).
   */
  beforeFirstWrite?: (() => Promise<void>) | undefined;
}

export interface RunOptions {
  dryRun: boolean;
  /** Limit the run to these namespaces (-n). */
  only?: readonly string[] | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: ((done: number, total: number) => void) | undefined;
}
