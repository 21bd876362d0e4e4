import type * as z from 'zod';
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
  close(): Promise<void>;
}

export interface StoreContext {
  logger: Logger;
  /** Directory relative paths in the config are resolved against. */
  baseDir: string;
}

/** A store type: its config schema (one member of the config's `stores` union) and its factory. */
export interface StoreProvider<C extends { type: string }> {
  readonly type: C['type'];
  readonly schema: z.ZodType<C>;
  create(name: string, config: C, ctx: StoreContext): SecretStore;
}
