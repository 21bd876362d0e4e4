import type { Sensitive } from '../base/sensitive.ts';
import type { Logger } from '../base/logger.ts';

/**
 * One version of one key, as a store returns it. Stores return raw values; turning them into registry
 * credentials happens once, centrally (credentials/resolve.ts).
 */
export interface StoreValue {
  value: Sensitive;
  /**
   * Opaque change detector: equal for the same version, different after any change. It may be derived from
   * the value (the file store's is a content digest), so it is never logged, printed or written to the
   * cluster as is; the engine only uses a salted digest of it (rotation/naming.ts).
   */
  revision: string;
  /** Human-readable, non-secret version (Vault KV version number, Key Vault version id), if the store has one. */
  version?: string | undefined;
  /** When this version was written to the store: the source age the policy checks. */
  updatedAt?: Date | undefined;
  /** Store-side expiry; a value past it is refused, never rolled out. */
  expiresAt?: Date | undefined;
  /**
   * Non-secret facts recorded beside the value (`regcred-` keys: an issuer's registry-side reference and
   * times): Key Vault tags, Vault KV fields. Absent for values nobody wrote through `put`.
   */
  meta?: Record<string, string> | undefined;
}

/** One key of a listing: what it is now, without its value. */
export interface StoreEntry {
  key: string;
  /** The record's own name (the part after the parent). */
  name: string;
  revision: string;
  meta: Record<string, string>;
}

/** Prefix of the meta keys this program writes and reads back. */
export const META_PREFIX = 'regcred-';

/** A new version of one key, as an issuer writes it. */
export interface StoreWrite {
  /**
   * The credential's fields, e.g. `{username, password}` (the username need not be Sensitive). A Key Vault secret holds them as one JSON
   * object (what the `json` credentials shape reads); a Vault KV secret holds them as fields.
   */
  fields: Record<string, Sensitive | string>;
  /** Non-secret facts recorded with this version; every key starts with META_PREFIX. */
  meta: Record<string, string>;
  /** Store-side expiry to record (Key Vault `exp`): for people and monitoring. */
  expiresAt?: Date | undefined;
}

/**
 * The contract every credential store implements.
 *
 * `get` throws a `RotatorError` whose code the engine acts on: STORE_NOT_FOUND (no such key),
 * STORE_AUTH (our identity was refused), STORE_PERMISSION (authenticated, not allowed to read this key),
 * STORE_UNREACHABLE (network / TLS / DNS), STORE_UNAVAILABLE (the store answered 5xx or is sealed),
 * STORE_SECRET_DISABLED / STORE_SECRET_EXPIRED (the store marks the value unusable).
 * Messages name the store and key, never the value.
 */
export interface SecretStore {
  readonly name: string;
  readonly type: string;
  get(key: string): Promise<StoreValue>;
  /** Proves reachability and authentication without reading a value; returns a one-line description. */
  check(): Promise<string>;
  /**
   * Writes a new version of `key` — only if the current version is still `ifRevision` (the `revision` of the
   * value read before; `null`: the key must not exist yet), else STORE_CONFLICT and nothing written. Present
   * only on stores that can be written (an issuer needs one). Returns the new version as `get` would.
   */
  put?(key: string, write: StoreWrite, ifRevision: string | null): Promise<StoreValue>;
  /**
   * The keys under `parent` (written as `childKey(parent, name)`) with their current revision and meta, for
   * records kept one per writer (a fleet's acknowledgements). Writable stores only.
   */
  listChildren?(parent: string): Promise<StoreEntry[]>;
  /** The key of record `name` under `parent`, in the store's own naming (Vault: a path, Key Vault: a name). */
  childKey?(parent: string, name: string): string;
  close(): Promise<void>;
}

export interface StoreContext {
  logger: Logger;
  /** Directory relative paths in the config are resolved against. */
  baseDir: string;
}

/** A store type's implementation (its config schema is registered beside it in providers/registry.ts). */
export interface StoreProvider<C extends { type: string }> {
  readonly type: C['type'];
  create(name: string, config: C, ctx: StoreContext): SecretStore;
}
