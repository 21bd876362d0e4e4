import { RotatorError } from '../errors.ts';
import type { SecretStore, StoreValue } from '../providers/types.ts';
import { buildDockerConfigJson, type RegistryCredential } from './dockerconfig.ts';
import { forgetSecret, type Sensitive } from '../base/sensitive.ts';
import { keysOf, readShape, type CredentialsConfig } from './shapes.ts';

/** What reading a target's credentials needs of it (the config's Target has it). */
export interface CredentialTarget {
  name: string;
  credentials: CredentialsConfig;
  /** The registry keys (normalised) the credentials are for. */
  registries: string[];
}

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
  /** What the store records beside the value (an issuer's registry-side reference), merged over the keys. */
  meta: Record<string, string>;
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

/**
 * Reads the target's keys from its store, validates them as the kubelet would read them, and
 * builds the exact .dockerconfigjson to write. Any problem throws before anything is written.
 */
export async function resolveCredentials(
  target: CredentialTarget,
  store: SecretStore,
  cache: FetchCache,
): Promise<ResolvedCredentials> {
  const c = target.credentials;
  const keys = keysOf(c);
  const values = await Promise.all(keys.map((k) => fetchKey(store, k, cache)));
  if (c.shape === 'username-password') {
    // A username is not a secret; keep the log scrubber from blanking out every mention of it.
    const [u, p] = values;
    if (u && p && u.value.reveal() !== p.value.reveal()) forgetSecret(u.value.reveal());
  }
  const creds = readShape(c, { values, registries: target.registries, store: store.name });
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
    values.map(f).filter((t): t is Date => t !== undefined);
  const updated = times((v) => v.updatedAt);
  const expires = times((v) => v.expiresAt);
  const versions = values.map((v) => v.version);
  return {
    creds,
    dockerConfigJson,
    revision: keys.map((k, i) => `${k}=${values[i]?.revision ?? ''}`).join('\n'),
    version: versions.every((x) => x !== undefined) ? [...new Set(versions)].join(',') : undefined,
    updatedAt: updated.length ? new Date(Math.max(...updated.map((t) => t.getTime()))) : undefined,
    expiresAt: expires.length ? new Date(Math.min(...expires.map((t) => t.getTime()))) : undefined,
    meta: Object.assign({}, ...values.map((v) => v.meta ?? {})) as Record<string, string>,
  };
}
