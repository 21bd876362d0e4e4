import * as z from 'zod';
import type { IssuerContext } from './context.ts';
import { acrTokenIssuerSchema } from './acr/schema.ts';
import { giteaTokenIssuerSchema } from './gitea/schema.ts';
import { harborRobotIssuerSchema } from './harbor/schema.ts';
import type { CredentialRef, Issuer, IssuerClass, ManagedCredential } from './types.ts';

/**
 * Every issuer type, one row each: its config schema (always loaded: validating a config loads no client),
 * its class (what issue and revoke mean at the registry, known before anything is loaded), and its
 * implementation, loaded on first use. Adding an issuer: its own folder and one row here. The row's key
 * must be its schema's `type` (checked by the compiler).
 */
const ISSUERS = {
  'acr-token': {
    schema: acrTokenIssuerSchema,
    class: 'dual-slot',
    load: async () => (await import('./acr/index.ts')).createAcrTokenIssuer,
  },
  'gitea-token': {
    schema: giteaTokenIssuerSchema,
    class: 'many-tokens',
    load: async () => (await import('./gitea/index.ts')).createGiteaTokenIssuer,
  },
  'harbor-robot': {
    schema: harborRobotIssuerSchema,
    class: 'paired-accounts',
    load: async () => {
      const { createHarborRobotIssuer } = await import('./harbor/index.ts');
      return (c: z.infer<typeof harborRobotIssuerSchema>, ctx: IssuerContext): Issuer =>
        createHarborRobotIssuer(c, { ...ctx, now: () => (ctx.now?.() ?? new Date()).getTime() });
    },
  },
} as const satisfies {
  [T in string]: {
    schema: z.ZodType<{ type: T }>;
    class: IssuerClass;
    load: () => Promise<(config: never, ctx: IssuerContext) => Issuer>;
  };
};

type IssuerType = keyof typeof ISSUERS;
const TYPES = Object.keys(ISSUERS) as IssuerType[];

/** When to mint and how to wait; the same for every issuer type. */
const lifecycleFields = {
  /**
   * Mint a new credential once the one in use is this old. Default: two thirds of `policy.maxAgeDays`, so
   * a rotation that keeps failing is a policy warning long before it is a violation.
   */
  rotateAfterDays: z.number().int().positive().optional(),
  /**
   * A credential of ours that the store does not hold and that is younger than this may belong to a run that
   * has not stored it yet (another cluster's): it is left alone until older, then revoked as an orphan.
   */
  orphanGraceMinutes: z.number().int().min(1).max(1440).default(15),
  /**
   * Adopting a credential someone stored by hand: the registry-side credential it is (`password1`, the
   * robot's full name). Needed once, for a slot or an account in turn; see docs/issuers/.
   */
  inUse: z.string().min(1).optional(),
  /** How long a fresh credential may take to work at the registry (replication) before the run gives up. */
  verifyTimeoutSeconds: z.number().int().min(0).max(900).default(120),
};

export const issuerConfigSchema = z.discriminatedUnion(
  'type',
  [
    ISSUERS['acr-token'].schema.extend(lifecycleFields),
    ISSUERS['gitea-token'].schema.extend(lifecycleFields),
    ISSUERS['harbor-robot'].schema.extend(lifecycleFields),
  ],
  { error: () => `must be one of: ${TYPES.join(', ')}` },
);
export type IssuerConfig = z.infer<typeof issuerConfigSchema>;

export const issuerClassOf = (type: IssuerType): IssuerClass => ISSUERS[type].class;

/** An issuer whose implementation is loaded on first use (a run with nothing due loads nothing more than it lists). */
class LazyIssuer implements Issuer {
  readonly type: string;
  readonly class: IssuerClass;
  readonly #open: () => Promise<Issuer>;
  #real: Promise<Issuer> | undefined;
  #loaded: Issuer | undefined;

  constructor(type: string, cls: IssuerClass, open: () => Promise<Issuer>) {
    this.type = type;
    this.class = cls;
    this.#open = open;
  }

  #get(): Promise<Issuer> {
    this.#real ??= this.#open().then((i) => (this.#loaded = i));
    return this.#real;
  }

  /** Known once the issuer has been used (the lifecycle lists before it describes). */
  describeIssue(inUse: CredentialRef | undefined, atRegistry: readonly ManagedCredential[]): string {
    return this.#loaded?.describeIssue?.(inUse, atRegistry) ?? 'issue a new credential';
  }

  async list(): Promise<ManagedCredential[]> {
    return (await this.#get()).list();
  }

  async issue(inUse: CredentialRef | undefined) {
    return (await this.#get()).issue(inUse);
  }

  async revoke(ref: CredentialRef): Promise<void> {
    return (await this.#get()).revoke(ref);
  }

  async check(): Promise<string> {
    return (await this.#get()).check();
  }

  async close(): Promise<void> {
    if (this.#real) await (await this.#real).close();
  }
}

export function createIssuer(config: IssuerConfig, ctx: IssuerContext): Issuer {
  const row = ISSUERS[config.type];
  return new LazyIssuer(config.type, row.class, async () => (await row.load())(config as never, ctx));
}
