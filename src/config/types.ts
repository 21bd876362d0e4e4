import type { IssuerConfig } from '../issuers/registry.ts';
import type { StoreConfig } from '../providers/registry.ts';
import type { Requirement } from '../kube/selector.ts';
import type { ParsedSchedule } from './schedule.ts';
import type { RawConfig, TargetConfig } from './schema.ts';

/** A target after validation: defaults filled, registry keys normalised, selector parsed, globs compiled. */
export interface Target extends Omit<TargetConfig, 'issuer'> {
  /** With every lifecycle default filled in (rotateAfterDays from the policy). */
  issuer?: (IssuerConfig & { rotateAfterDays: number }) | undefined;
  secretName: string;
  /** The registry keys (normalised) the secret holds credentials for. */
  registries: string[];
  selector: Requirement[] | undefined;
  excludeRes: RegExp[];
}

/** The validated configuration the rest of the program uses. */
export interface Config {
  file: string;
  /** Relative paths in the config (file store, CA files) resolve against this directory. */
  baseDir: string;
  stores: Record<string, StoreConfig>;
  targets: Target[];
  policy: RawConfig['policy'];
  rotation: RawConfig['rotation'] & { retainSupersededMs: number };
  schedule: ParsedSchedule & { text: string };
  timeZone: string | undefined;
  metrics: RawConfig['metrics'];
  fleet: RawConfig['fleet'];
  /** `namespace` defaults to the pod's own namespace when running in a pod, else `regcred-rotator`. */
  lock: RawConfig['lock'] & { namespace: string };
}
