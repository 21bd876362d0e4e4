import type { CredentialRef, IssuerClass, ManagedCredential } from '../issuers/types.ts';

const DAY = 86_400_000;

/** What the issuance lifecycle knows about one target before it acts. Everything here is observed. */
export interface IssuanceFacts {
  now: Date;
  /** The credential the store holds now, from its meta; undefined when the store holds none of ours. */
  stored: CredentialRef | undefined;
  /** Whether the store holds any value at all for the target (ours or put there by a person). */
  storeHasValue: boolean;
  /** The registry-side credentials the issuer manages, as the registry lists them now. */
  atRegistry: readonly ManagedCredential[];
  /** Issue a new credential once the stored one is this old (ms). */
  rotateAfterMs: number;
  /**
   * A credential of ours that the store does not hold and that is younger than this may be in flight (issued
   * by a run that has not stored it yet): it is left alone until older. Older ones are orphans.
   */
  graceMs: number;
  /** `--reissue`: issue now, whatever the age. */
  reissue: boolean;
  issuerClass: IssuerClass;
  /**
   * Adopting a credential someone stored by hand: which registry-side credential it is (`issuer.inUse`).
   * A slot or an account in turn cannot be told apart from the outside, and issuing into the one in use
   * would break it.
   */
  adopt: string | undefined;
}

export interface IssueDecision {
  /** Why a new credential is needed now; undefined when none is. */
  issue: string | undefined;
  /** Why it cannot be issued although needed (a person must say something first). */
  blocked?: string | undefined;
  /** Registry credentials to revoke once the stored one's rollout is complete, each with why. */
  revoke: { ref: ManagedCredential; why: string }[];
  /** Ours, not stored, too young to call orphaned: until when it is left alone. */
  waiting: { ref: ManagedCredential; until: Date }[];
}

const days = (ms: number) => Math.floor(ms / DAY);
/** Registries report times at second precision, some after a small delay: later by more than this is a reissue. */
const REISSUE_TOLERANCE = 60_000;

/**
 * Decides, from what the store and the registry say now, whether to mint a new credential and which of the
 * registry's credentials may go once the stored one is rolled out. Pure: no clock, no I/O. Because it
 * works from observed state only, a run killed anywhere is finished by the next: a credential issued and
 * never stored is an orphan (not the stored one) and is revoked once older than the grace time; an old one
 * whose revocation was cut short is revoked at the next complete rollout.
 */
export function decideIssuance(f: IssuanceFacts): IssueDecision {
  const now = f.now.getTime();
  const adopted =
    f.stored === undefined && f.storeHasValue && f.adopt !== undefined
      ? f.atRegistry.find((c) => c.id === f.adopt)
      : undefined;
  const stored = f.stored ?? adopted;
  let blocked: string | undefined;
  const present = stored ? f.atRegistry.find((c) => c.id === stored.id) : undefined;
  let issue: string | undefined;
  if (f.reissue) issue = 'a new credential was asked for (--reissue)';
  else if (!f.storeHasValue) issue = 'the store holds no credential for this target yet';
  else if (!stored) {
    issue = 'the store holds a credential this issuer did not record';
    if (f.issuerClass !== 'many-tokens')
      blocked =
        f.adopt === undefined
          ? 'set `issuer.inUse` to the slot or account the stored credential belongs to (issuing into it would break it)'
          : `issuer.inUse "${f.adopt}" is not one of the registry's credentials (${f.atRegistry.map((c) => c.id).join(', ') || 'none'})`;
  } else if (!present) issue = `the stored credential (${stored.label}) no longer exists at the registry`;
  else if (present.state === 'disabled')
    issue = `the stored credential (${stored.label}) is disabled at the registry`;
  else if (
    adopted === undefined &&
    present.issuedAt.getTime() - stored.issuedAt.getTime() > REISSUE_TOLERANCE
  )
    issue = `the stored credential (${stored.label}) was reissued at the registry since it was stored (its secret changed)`;
  else if (now - stored.issuedAt.getTime() >= f.rotateAfterMs)
    issue = `due: issued ${days(now - stored.issuedAt.getTime())} days ago (rotate after ${days(f.rotateAfterMs)} days)`;
  else if (stored.expiresAt && stored.expiresAt.getTime() - now < Math.min(f.rotateAfterMs / 4, 7 * DAY))
    issue = `due: the registry expires it on ${stored.expiresAt.toISOString().slice(0, 10)}`;

  const revoke: IssueDecision['revoke'] = [];
  const waiting: IssueDecision['waiting'] = [];
  // Nothing is revoked while the store holds a credential this issuer did not record (being adopted): until
  // the first issue, nothing says which of the registry's credentials are still used elsewhere.
  const mine = f.stored;
  if (mine === undefined && f.storeHasValue) return { issue, blocked, revoke, waiting };
  for (const c of f.atRegistry) {
    if (c.id === mine?.id || c.state === 'disabled') continue;
    const age = now - c.issuedAt.getTime();
    const newer = mine === undefined || c.issuedAt.getTime() > mine.issuedAt.getTime();
    if (!newer) revoke.push({ ref: c, why: `superseded by ${mine.label}` });
    else if (age >= f.graceMs)
      revoke.push({ ref: c, why: `issued ${Math.round(age / 60_000)} min ago and never stored` });
    else waiting.push({ ref: c, until: new Date(c.issuedAt.getTime() + f.graceMs) });
  }
  return { issue, blocked, revoke, waiting };
}
