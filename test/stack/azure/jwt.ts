/** RS256 JWTs for the Entra ID double: signing its access tokens, verifying them and federated assertions. */
import { createHash, createPublicKey, sign, verify, type JsonWebKey, type KeyObject } from 'node:crypto';

export type Claims = Record<string, unknown>;

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

/** A signing key with its JWKS entry (kid = thumbprint of the public key, as Entra's `kid`s are opaque). */
export interface SigningKey {
  kid: string;
  key: KeyObject;
  jwk: JsonWebKey & { kid: string; use: 'sig'; alg: 'RS256' };
}

export function signingKey(key: KeyObject): SigningKey {
  const pub = createPublicKey(key).export({ format: 'jwk' });
  const kid = createHash('sha256')
    .update(JSON.stringify([pub.e, pub.n]))
    .digest('base64url')
    .slice(0, 27);
  return { kid, key, jwk: { ...pub, kid, use: 'sig', alg: 'RS256' } };
}

export function signJwt(claims: Claims, k: SigningKey): string {
  const header = { typ: 'JWT', alg: 'RS256', kid: k.kid, x5t: k.kid };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${b64url(sign('sha256', Buffer.from(input), k.key))}`;
}

export interface Decoded {
  header: { alg?: string; kid?: string };
  claims: Claims;
  input: string;
  signature: Buffer;
}

export function decodeJwt(token: string): Decoded | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const [h, c, s] = parts as [string, string, string];
    return {
      header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as Decoded['header'],
      claims: JSON.parse(Buffer.from(c, 'base64url').toString('utf8')) as Claims,
      input: `${h}.${c}`,
      signature: Buffer.from(s, 'base64url'),
    };
  } catch {
    return undefined;
  }
}

/** Checks the RS256 signature against a JWKS; `undefined` kid matches any key (single-key issuers). */
export function signatureValid(d: Decoded, keys: readonly (JsonWebKey & { kid?: string })[]): boolean {
  if (d.header.alg !== 'RS256') return false;
  return keys
    .filter((k) => d.header.kid === undefined || k.kid === undefined || k.kid === d.header.kid)
    .some((k) => {
      try {
        return verify(
          'sha256',
          Buffer.from(d.input),
          createPublicKey({ key: k, format: 'jwk' }),
          d.signature,
        );
      } catch {
        return false;
      }
    });
}

export const nowSeconds = (): number => Math.floor(Date.now() / 1000);
