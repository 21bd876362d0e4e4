import type { Target } from '../config/types.ts';
import { RotatorError } from '../errors.ts';
import type { SecretStore, StoreValue } from '../providers/types.ts';
import {
  buildDockerConfigJson,
  checkCredential,
  parseDockerConfigJson,
  type RegistryCredential,
} from './dockerconfig.ts';
import { forgetSecret, type Sensitive } from '../base/sensitive.ts';

/** A target's credentials, fetched once per run and validated, ready to write. */
export interface ResolvedCredentials {
  creds: RegistryCredential[];
  dockerConfigJson: Sensitive;
  /** Opaque change detector of all keys used (may derive from the value: never printed). */
  revision: string;
  /** Human-readable, non-secret version, when the store has one. */
  version: string | undefined;
  /** Newest write among the keys used: the credential's age. */
  updatedAt: Date | undefined;
  /** Earliest expiry among the keys used. */
  expiresAt: Date | undefined;
}

/** Fetches are shared between targets that read the same store key in one run. */
export type FetchCache = Map<string, Promise<StoreValue>>;

function fetchKey(store: SecretStore, key: string, cache: FetchCache): Promise<StoreValue> {
  const k = `${store.name}\u0000${key}`;
  let p = cache.get(k);
  if (!p) {
    p = store.get(key);
    cache.set(k, p);
  }
  return p;
}

function parseJsonCredential(
  text: string,
  origin: { store: string; key: string },
): { username: string; password: string; email?: string | undefined } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new RotatorError(
      'STORE_VALUE_MALFORMED',
      `store "${origin.store}" key "${origin.key}": is not valid JSON (expected {"username": ..., "password": ...})`,
      { details: origin },
    );
  }
  const o = doc as Record<string, unknown> | null;
  if (typeof o !== 'object' || o === null || Array.isArray(o)) {
    throw new RotatorError(
      'STORE_VALUE_MALFORMED',
      `store "${origin.store}" key "${origin.key}": is not a JSON object with username and password`,
      { details: origin },
    );
  }
  const { username, password, email } = o;
  if (
    typeof username !== 'string' ||
    typeof password !== 'string' ||
    (email !== undefined && typeof email !== 'string')
  ) {
    throw new RotatorError(
      'STORE_VALUE_MALFORMED',
      `store "${origin.store}" key "${origin.key}": "username" and "password" must be strings`,
      { details: origin },
    );
  }
  return { username, password, email: email };
}

/**
 * Reads the target's keys from its store, validates them as the kubelet would read them, and
 * builds the exact .dockerconfigjson to write. Any problem throws before anything is written.
 */
export async function resolveCredentials(
  target: Target,
  store: SecretStore,
  cache: FetchCache,
): Promise<ResolvedCredentials> {
  const registries = target.registries;
  const c = target.credentials;
  const values: { key: string; v: StoreValue }[] = [];
  let creds: RegistryCredential[];
  if (c.username && c.password) {
    const [u, p] = await Promise.all([
      fetchKey(store, c.username.key, cache),
      fetchKey(store, c.password.key, cache),
    ]);
    values.push({ key: c.username.key, v: u }, { key: c.password.key, v: p });
    // A username is not a secret; keep the log scrubber from blanking out every mention of it.
    if (u.value.reveal() !== p.value.reveal()) forgetSecret(u.value.reveal());
    creds = registries.map((r) =>
      checkCredential(r, u.value.reveal(), p.value.reveal(), undefined, {
        store: store.name,
        key: `${c.username?.key ?? ''} + ${c.password?.key ?? ''}`,
      }),
    );
  } else if (c.json) {
    const v = await fetchKey(store, c.json.key, cache);
    values.push({ key: c.json.key, v });
    const origin = { store: store.name, key: c.json.key };
    const j = parseJsonCredential(v.value.reveal(), origin);
    creds = registries.map((r) => checkCredential(r, j.username, j.password, j.email, origin));
  } else if (c.dockerconfigjson) {
    const v = await fetchKey(store, c.dockerconfigjson.key, cache);
    values.push({ key: c.dockerconfigjson.key, v });
    const origin = { store: store.name, key: c.dockerconfigjson.key };
    const all = parseDockerConfigJson(v.value.reveal(), origin);
    if (registries.length === 0) creds = all;
    else {
      creds = registries.map((r) => {
        const found = all.find((x) => x.registry === r);
        if (!found) {
          throw new RotatorError(
            'STORE_VALUE_MALFORMED',
            `store "${store.name}" key "${origin.key}": has no entry for registry "${r}" (it has: ${all.map((x) => x.registry).join(', ')})`,
            { details: origin },
          );
        }
        return found;
      });
    }
  } else {
    throw new RotatorError('CONFIG_INVALID', `target ${target.name}: no credentials shape`);
  }
  if (creds.length === 0)
    throw new RotatorError('CONFIG_INVALID', `target ${target.name}: no registry given (set \`registry\`)`);

  const dockerConfigJson = buildDockerConfigJson(creds);
  if (dockerConfigJson.length > 512 * 1024) {
    throw new RotatorError(
      'STORE_VALUE_MALFORMED',
      `target ${target.name}: the .dockerconfigjson would be ${dockerConfigJson.length} bytes; a Secret holds at most 1 MiB`,
    );
  }
  const times = (f: (v: StoreValue) => Date | undefined) =>
    values.map((x) => f(x.v)).filter((t): t is Date => t !== undefined);
  const updated = times((v) => v.updatedAt);
  const expires = times((v) => v.expiresAt);
  const versions = values.map((x) => x.v.version);
  return {
    creds,
    dockerConfigJson,
    revision: values.map((x) => `${x.key}=${x.v.revision}`).join('\n'),
    version: versions.every((x) => x !== undefined) ? [...new Set(versions)].join(',') : undefined,
    updatedAt: updated.length ? new Date(Math.max(...updated.map((t) => t.getTime()))) : undefined,
    expiresAt: expires.length ? new Date(Math.min(...expires.map((t) => t.getTime()))) : undefined,
  };
}
