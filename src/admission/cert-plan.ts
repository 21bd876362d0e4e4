/**
 * When the webhook's certificate is renewed, and when the CA it replaced stops being trusted. Pure: the
 * certificate manager (certs.ts) reads the TLS Secret into a CertView, asks certStep, and acts.
 *
 * The order that keeps every admission call verifiable (the API server checks our serving certificate
 * against the configuration's caBundle): the bundle gets the new CA first (old and new trusted), the new
 * certificate is served only after the API server has had `graceMs` to load that bundle, and the old CA
 * leaves the bundle only `dropAfterMs` later, when every replica serves the new one.
 */

export interface CertTiming {
  /** Lifetime of a new certificate. */
  validityMs: number;
  /** Renew once less than this fraction of the lifetime is left. */
  renewFraction: number;
  /** From the bundle write to serving the new certificate. */
  graceMs: number;
  /** From serving the new certificate to dropping the old CA from the bundle. */
  dropAfterMs: number;
}

export const DEFAULT_TIMING: CertTiming = {
  validityMs: 90 * 86_400_000,
  renewFraction: 1 / 3,
  graceMs: 5000,
  dropAfterMs: 60_000,
};

/** The TLS Secret as the manager read it (undefined fields: absent or unreadable). */
export interface CertView {
  exists: boolean;
  /** The serving certificate's validity, when it parses and its key matches. */
  leaf?: { notBefore: Date; notAfter: Date; coversHosts: boolean } | undefined;
  /** CAs in `ca.crt` (the current one first). */
  cas: number;
  /** Set while the replaced CA is still trusted: when it may go. */
  previousCaUntil?: Date | undefined;
  /** An operator asked for a renewal (the renew annotation). */
  forced: boolean;
}

export type CertStep =
  | { kind: 'renew'; why: 'missing' | 'unreadable' | 'hosts' | 'expiring' | 'forced' }
  | { kind: 'drop-previous' }
  | { kind: 'none' };

export function certStep(v: CertView, now: Date, t: CertTiming): CertStep {
  if (!v.exists) return { kind: 'renew', why: 'missing' };
  if (!v.leaf) return { kind: 'renew', why: 'unreadable' };
  if (v.forced) return { kind: 'renew', why: 'forced' };
  if (!v.leaf.coversHosts) return { kind: 'renew', why: 'hosts' };
  if (now.getTime() >= renewAt(v.leaf, t).getTime()) return { kind: 'renew', why: 'expiring' };
  if (v.cas > 1 && (v.previousCaUntil === undefined || now.getTime() >= v.previousCaUntil.getTime()))
    return { kind: 'drop-previous' };
  return { kind: 'none' };
}

/** When a certificate is due: `renewFraction` of its lifetime before it expires. */
export function renewAt(leaf: { notBefore: Date; notAfter: Date }, t: CertTiming): Date {
  const life = leaf.notAfter.getTime() - leaf.notBefore.getTime();
  return new Date(leaf.notAfter.getTime() - life * t.renewFraction);
}

/** Splits a PEM bundle into its certificates. */
export function pemBlocks(text: string): string[] {
  return [...text.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/g)].map((m) =>
    m[0].endsWith('\n') ? m[0] : `${m[0]}\n`,
  );
}
