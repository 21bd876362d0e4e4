import type { CredentialRef } from '../types.ts';

export type SlotName = 'password1' | 'password2';
export const SLOT_NAMES: readonly SlotName[] = ['password1', 'password2'];

/** One password slot as ARM lists it: no value, ever (GET never returns one). */
export interface SlotState {
  name: SlotName;
  createdAt: Date | undefined;
  /** Undefined when the slot never expires (absent, null, or year 9999 on the wire). */
  expiresAt: Date | undefined;
}

/** What the issuer reads of a token resource; unknown fields are ignored. */
export interface TokenState {
  status: string;
  provisioningState: string;
  slots: SlotState[];
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/i;

/**
 * ARM's timestamps: `Z` with up to seven fractional digits from the service, `+00:00` offsets from other
 * clients' renderings; milliseconds kept, the rest dropped.
 */
export function parseArmTime(v: unknown): Date | undefined {
  if (typeof v !== 'string') return undefined;
  const m = RFC3339.exec(v);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac = '', zone = 'Z'] = m;
  let ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  ms += Number(frac.padEnd(3, '0').slice(0, 3));
  if (zone.toUpperCase() !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    ms -= sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
  }
  return Number.isNaN(ms) ? undefined : new Date(ms);
}

/** "Doesn't expire" is written as year 9999 by some clients and services. */
const NEVER = Date.UTC(9999, 0, 1);

export function parseToken(body: unknown): TokenState {
  const p = (body as { properties?: Record<string, unknown> } | undefined)?.properties ?? {};
  const creds = p['credentials'] as { passwords?: unknown } | undefined;
  const list = Array.isArray(creds?.passwords) ? (creds.passwords as Record<string, unknown>[]) : [];
  const slots: SlotState[] = [];
  for (const x of list) {
    const name = x['name'];
    if (name !== 'password1' && name !== 'password2') continue;
    const exp = parseArmTime(x['expiry']);
    slots.push({
      name,
      createdAt: parseArmTime(x['creationTime']),
      expiresAt: exp && exp.getTime() < NEVER ? exp : undefined,
    });
  }
  return {
    status: typeof p['status'] === 'string' ? p['status'] : 'unknown',
    provisioningState: typeof p['provisioningState'] === 'string' ? p['provisioningState'] : 'unknown',
    slots,
  };
}

export const otherSlot = (s: SlotName): SlotName => (s === 'password1' ? 'password2' : 'password1');

export const isSlotName = (s: string): s is SlotName => s === 'password1' || s === 'password2';

/**
 * The slot to regenerate. With a credential in use: the other one, always (the one in use must keep
 * working). Without one (first issue): ARO-RP's rule — a missing slot (password1 first), else the one
 * with the older creationTime, an unknown creationTime counting as oldest.
 */
export function targetSlot(token: TokenState, inUse: SlotName | undefined): SlotName {
  if (inUse !== undefined) return otherSlot(inUse);
  const present = new Map(token.slots.map((s) => [s.name, s]));
  const missing = SLOT_NAMES.find((n) => !present.has(n));
  if (missing) return missing;
  const [a, b] = SLOT_NAMES.map((n) => present.get(n)?.createdAt?.getTime() ?? -Infinity) as [number, number];
  return b < a ? 'password2' : 'password1';
}

/**
 * Whether revoking `ref` must leave the slot alone: the slot is gone, or it was regenerated after `ref`
 * was issued, so it holds a newer credential than the one `ref` names (which is therefore dead already).
 */
export function alreadyRevoked(token: TokenState, ref: CredentialRef): boolean {
  const slot = token.slots.find((s) => s.name === ref.id);
  if (!slot) return true;
  return slot.createdAt !== undefined && slot.createdAt.getTime() > ref.issuedAt.getTime();
}
