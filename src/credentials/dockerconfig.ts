import { RotatorError } from '../errors.ts';
import { normaliseRegistryKey } from './registry-key.ts';
import { registerSecret, Sensitive } from '../base/sensitive.ts';

/** One registry's credentials, validated: username without `:`, non-empty password. */
export interface RegistryCredential {
  registry: string;
  username: string;
  password: Sensitive;
  email?: string | undefined;
}

/** Where a value came from, for error messages (never the value itself). */
export interface ValueOrigin {
  store: string;
  key: string;
}

/** A malformed value: the message names store and key; `details.problem` is the problem alone. */
function invalid(origin: ValueOrigin, problem: string): RotatorError {
  return new RotatorError(
    'STORE_VALUE_MALFORMED',
    `store "${origin.store}" key "${origin.key}": ${problem}; fix the value in the store (nothing was written)`,
    { details: { store: origin.store, key: origin.key, problem } },
  );
}

/**
 * Checks and normalises one credential the way the kubelet reads it: it would reject a malformed entry (and
 * with it every pull of the pod) or mis-split a username containing ":".
 */
export function checkCredential(
  registry: string,
  username: string,
  password: string,
  email: string | undefined,
  origin: ValueOrigin,
): RegistryCredential {
  const norm = normaliseRegistryKey(registry);
  if ('error' in norm) throw invalid(origin, norm.error);
  if (username === '') throw invalid(origin, `empty username for registry "${norm.key}"`);
  if (username.includes(':'))
    throw invalid(
      origin,
      `username for "${norm.key}" contains ":" (the kubelet splits auth on the first ":")`,
    );
  if (/[\r\n]/.test(username)) throw invalid(origin, `username for "${norm.key}" contains a line break`);
  if (password === '') throw invalid(origin, `empty password for registry "${norm.key}"`);
  return { registry: norm.key, username, password: new Sensitive(password), email };
}

function strictBase64Decode(s: string): string | undefined {
  if (s.length === 0 || s.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(s)) return undefined;
  const buf = Buffer.from(s, 'base64');
  if (buf.toString('base64') !== s) return undefined;
  const text = buf.toString('utf8');
  return Buffer.from(text, 'utf8').equals(buf) ? text : undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parses a whole `.dockerconfigjson` value and validates every entry the way the kubelet reads it:
 * `auths` must be an object of objects; `auth`, when present, must be standard base64 of `user:pass` and
 * agree with `username`/`password` if those are present too.
 */
export function parseDockerConfigJson(text: string, origin: ValueOrigin): RegistryCredential[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw invalid(origin, 'is not valid JSON (expected a .dockerconfigjson document)');
  }
  if (!isObject(doc)) throw invalid(origin, 'is not a JSON object (expected {"auths": {...}})');
  const auths = doc['auths'];
  if (auths === undefined) throw invalid(origin, 'has no "auths" object');
  if (!isObject(auths)) throw invalid(origin, '"auths" is not an object');
  const out: RegistryCredential[] = [];
  for (const [registry, entry] of Object.entries(auths)) {
    if (!isObject(entry)) throw invalid(origin, `auths["${registry}"] is not an object`);
    const { username, password, auth, email } = entry;
    for (const [field, v] of Object.entries({ username, password, auth, email })) {
      if (v !== undefined && typeof v !== 'string')
        throw invalid(origin, `auths["${registry}"].${field} is not a string`);
    }
    let user = username as string | undefined;
    let pass = password as string | undefined;
    if (typeof auth === 'string' && auth !== '') {
      const decoded = strictBase64Decode(auth);
      if (decoded === undefined) throw invalid(origin, `auths["${registry}"].auth is not standard base64`);
      const colon = decoded.indexOf(':');
      if (colon < 0)
        throw invalid(origin, `auths["${registry}"].auth does not decode to "username:password"`);
      const fromAuthUser = decoded.slice(0, colon);
      const fromAuthPass = decoded.slice(colon + 1);
      if ((user !== undefined && user !== fromAuthUser) || (pass !== undefined && pass !== fromAuthPass)) {
        throw invalid(
          origin,
          `auths["${registry}"]: auth and username/password disagree (the kubelet would use auth)`,
        );
      }
      user = fromAuthUser;
      pass = fromAuthPass;
    }
    if (user === undefined || pass === undefined) {
      throw invalid(origin, `auths["${registry}"] has neither auth nor both username and password`);
    }
    out.push(checkCredential(registry, user, pass, email as string | undefined, origin));
  }
  if (out.length === 0) throw invalid(origin, '"auths" is empty');
  return dedupe(out, origin);
}

function dedupe(creds: RegistryCredential[], origin: ValueOrigin): RegistryCredential[] {
  const seen = new Map<string, RegistryCredential>();
  for (const c of creds) {
    const prev = seen.get(c.registry);
    if (prev && (prev.username !== c.username || !prev.password.equals(c.password))) {
      throw invalid(origin, `two entries normalise to registry "${c.registry}" with different credentials`);
    }
    seen.set(c.registry, c);
  }
  return [...seen.values()].sort((a, b) => (a.registry < b.registry ? -1 : a.registry > b.registry ? 1 : 0));
}

/**
 * The exact `.dockerconfigjson` the rotator writes: registries sorted, fields in a fixed order, so the
 * same credentials always give the same bytes (an unchanged source compares equal: no write).
 */
export function buildDockerConfigJson(creds: readonly RegistryCredential[]): Sensitive {
  const auths: Record<string, Record<string, string>> = {};
  for (const c of [...creds].sort((a, b) => (a.registry < b.registry ? -1 : 1))) {
    const pass = c.password.reveal();
    const entry: Record<string, string> = {
      username: c.username,
      password: pass,
      auth: Buffer.from(`${c.username}:${pass}`, 'utf8').toString('base64'),
    };
    if (c.email !== undefined) entry['email'] = c.email;
    auths[c.registry] = entry;
  }
  const json = new Sensitive(JSON.stringify({ auths }));
  // The Secret's data field carries the base64 of the document, and each entry its `auth`: the scrubber
  // must know those forms too.
  registerSecret(Buffer.from(json.reveal(), 'utf8').toString('base64'));
  for (const entry of Object.values(auths)) registerSecret(entry['auth'] ?? '');
  return json;
}
