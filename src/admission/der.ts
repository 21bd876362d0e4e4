/**
 * The few DER encodings an X.509 certificate needs (ITU-T X.690), written — never parsed. The webhook's
 * certificates are built from these (x509.ts); the keys, the signatures and the check of every certificate
 * built are OpenSSL's, through node:crypto. Writing only, from our own values: no untrusted input reaches
 * this code, so it has no parser to get wrong.
 */

/** Tag, length, value. */
export function tlv(tag: number, value: Buffer): Buffer {
  const n = value.length;
  if (n < 0x80) return Buffer.concat([Buffer.from([tag, n]), value]);
  const len: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) len.unshift(v % 256);
  return Buffer.concat([Buffer.from([tag, 0x80 | len.length, ...len]), value]);
}

export const sequence = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items));
export const set = (...items: Buffer[]): Buffer => tlv(0x31, Buffer.concat(items));
export const octetString = (b: Buffer): Buffer => tlv(0x04, b);
export const utf8String = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'));
export const boolean = (v: boolean): Buffer => tlv(0x01, Buffer.from([v ? 0xff : 0x00]));
/** `[n] EXPLICIT`: the value wrapped in a constructed context-specific tag. */
export const explicit = (n: number, value: Buffer): Buffer => tlv(0xa0 | n, value);
/** `[n] IMPLICIT` over a primitive type: the value's own bytes under a context-specific tag. */
export const implicit = (n: number, bytes: Buffer): Buffer => tlv(0x80 | n, bytes);

/** A non-negative INTEGER from big-endian bytes: minimal, with a 0x00 in front when the top bit is set. */
export function unsignedInteger(bytes: Buffer): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const b = bytes.subarray(i);
  return tlv(0x02, (b[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : Buffer.from(b));
}

export const smallInteger = (n: number): Buffer => unsignedInteger(Buffer.from([n]));

/** An OBJECT IDENTIFIER from its dotted form. */
export function oid(dotted: string): Buffer {
  const [first = -1, second = -1, ...rest] = dotted.split('.').map(Number);
  if ([first, second, ...rest].some((a) => !Number.isSafeInteger(a) || a < 0))
    throw new Error(`bad OID ${dotted}`);
  const out = [40 * first + second];
  for (const arc of rest) {
    const groups = [arc % 128];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) groups.unshift((v % 128) | 0x80);
    out.push(...groups);
  }
  return tlv(0x06, Buffer.from(out));
}

/**
 * A BIT STRING of named bits (bit 0 is the first byte's top bit), with the trailing zero bits dropped as
 * DER requires for named-bit lists (KeyUsage).
 */
export function namedBits(bits: readonly number[]): Buffer {
  const max = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(max / 8) + 1);
  for (const b of bits)
    bytes.writeUInt8(bytes.readUInt8(Math.floor(b / 8)) | (0x80 >> (b % 8)), Math.floor(b / 8));
  const unused = 7 - (max % 8);
  return tlv(0x03, Buffer.concat([Buffer.from([unused]), bytes]));
}

/** A BIT STRING holding whole bytes (a signature). */
export const bitString = (b: Buffer): Buffer => tlv(0x03, Buffer.concat([Buffer.from([0]), b]));

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; always UTC, seconds, no fraction. */
export function time(d: Date): Buffer {
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  const year = d.getUTCFullYear();
  return year < 2050
    ? tlv(0x17, Buffer.from(digits.slice(2), 'ascii'))
    : tlv(0x18, Buffer.from(digits, 'ascii'));
}
