import type { Sensitive } from '../base/sensitive.ts';

/**
 * How a registry lets two credentials of one target be valid at once. The issuance lifecycle
 * (mint → store → roll out → revoke when provably unused) is the same for all three; what differs is
 * what "issue" and "revoke" do at the registry:
 * - `dual-slot`: one token with two password slots (Azure Container Registry). Issue regenerates the slot
 *   not in use; revoke removes the old slot.
 * - `many-tokens`: any number of tokens per user (Gitea / Forgejo, Docker Hub, GitLab deploy tokens).
 *   Issue creates a new token; revoke deletes the old one.
 * - `paired-accounts`: one secret per account, a refresh invalidates it at once (Harbor and Quay robots).
 *   Two accounts are used in turn: issue enables and refreshes the one not in use; revoke disables the other.
 */
export type IssuerClass = 'dual-slot' | 'many-tokens' | 'paired-accounts';

/**
 * One credential at the registry that this issuer manages, without its secret: what the store records
 * beside the value (so a later run knows which registry-side object the stored value belongs to) and
 * what the registry lists.
 */
export interface CredentialRef {
  /** Stable registry-side identity: a token id, `password1`/`password2`, a robot's full name. Not secret. */
  id: string;
  /** What an operator reads: "token ci-pull, slot password2", "robot robot$team-a+pull-b". */
  label: string;
  /** When the registry issued the current secret of this object (a slot's creationTime, a token's creation). */
  issuedAt: Date;
  /** Registry-side expiry, when the registry enforces one. */
  expiresAt?: Date | undefined;
}

/** A registry-side credential as the registry lists it now. */
export interface ManagedCredential extends CredentialRef {
  /** `disabled`: exists but cannot log in (a disabled robot, a removed slot is simply not listed). */
  state: 'active' | 'disabled';
}

/** A freshly minted credential: the registry showed its secret once; it must reach the store before anything else. */
export interface IssuedCredential {
  ref: CredentialRef;
  username: string;
  password: Sensitive;
}

/**
 * The registry side of one target. Every method is idempotent where the registry allows it, throws a
 * `RotatorError` whose message names the registry object, the identity used and (for a refusal) the
 * permission it lacks, and never puts a secret in a message.
 */
export interface Issuer {
  readonly type: string;
  readonly class: IssuerClass;
  /** Every registry-side credential of this target that the issuer manages (ours only: by name or slot). */
  list(): Promise<ManagedCredential[]>;
  /**
   * Mints a new credential. `inUse` is the one the store holds now (undefined on the first issue): it must
   * keep working, so a dual-slot issuer regenerates the other slot and a paired-accounts issuer refreshes the
   * other account.
   */
  issue(inUse: CredentialRef | undefined): Promise<IssuedCredential>;
  /**
   * What `issue(inUse)` would do, for dry runs and `status`: "regenerate password2 of token ci-pull".
   * Optional; without it the lifecycle says "issue a new credential".
   */
  describeIssue?(inUse: CredentialRef | undefined, atRegistry: readonly ManagedCredential[]): string;
  /** Makes `ref` unusable at the registry. Already gone (deleted token, removed slot) counts as done. */
  revoke(ref: CredentialRef): Promise<void>;
  /** Proves the managing identity can reach and act (`validate --online`); one line, no secret. */
  check(): Promise<string>;
  close(): Promise<void>;
}
