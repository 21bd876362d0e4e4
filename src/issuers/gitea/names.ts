import { randomInt } from 'node:crypto';

/**
 * Token names are the issuer's ownership mark: `regcred-<target>-<UTC yyyymmddThhmmssZ>-<4 random>`. A
 * name matches only its own target's exact pattern, so target `a` never claims `regcred-a-b-…` of target
 * `a-b`, and a token a person named `regcred-a-test` is never touched.
 */
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function stamp(at: Date): string {
  return at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

export function tokenName(target: string, at: Date, random = randomSuffix()): string {
  return `regcred-${target}-${stamp(at)}-${random}`;
}

export function randomSuffix(): string {
  let s = '';
  for (let i = 0; i < 4; i++) s += ALPHABET.charAt(randomInt(ALPHABET.length));
  return s;
}

/** When a token of `target` was minted, from its name; undefined when the name is not ours. */
export function parseTokenName(target: string, name: string): Date | undefined {
  const s = new RegExp(`^regcred-${escape(target)}-(\\d{8}T\\d{6}Z)-[a-z0-9]{4}$`).exec(name)?.[1];
  if (s === undefined) return undefined;
  const iso = `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}T${s.slice(9, 11)}:${s.slice(11, 13)}:${s.slice(13, 15)}Z`;
  const at = new Date(iso);
  // Round-trip: 20261332T… parses to some date, but not back to the same stamp.
  return !Number.isNaN(at.getTime()) && stamp(at) === s ? at : undefined;
}
