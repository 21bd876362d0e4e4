import { isRotatorError, RotatorError } from '../errors.ts';
import type { CredentialRef, IssuedCredential, Issuer, ManagedCredential } from '../issuers/types.ts';
import { META_PREFIX, type SecretStore } from '../providers/types.ts';
import {
  resolveCredentials,
  type CredentialTarget,
  type FetchCache,
  type ResolvedCredentials,
} from './resolve.ts';
import type { CredentialsConfig } from './shapes.ts';

/**
 * Where a target's credentials come from. `read` is what every store does: the current credentials,
 * validated and ready to write. A target that names an issuer also mints credentials at the registry
 * (`issue`: new credential → a new store version, before anything else) and revokes them there (`revoke`);
 * the issuance lifecycle (src/issuance/) decides when.
 */
export interface CredentialSource {
  readonly target: CredentialTarget;
  read(cache?: FetchCache): Promise<ResolvedCredentials>;
  /** The issuing side, when the target names an issuer. */
  readonly issuing?: IssuingSide | undefined;
}

export interface IssuingSide {
  readonly issuer: Issuer;
  /** The registry-side credentials the issuer manages now. */
  list(): Promise<ManagedCredential[]>;
  /**
   * Mints a credential beside the one in use (`inUse`; `current` is the store's value as read, undefined when
   * it holds none yet) and stores it as a new version — check-and-set on the version read, so a store that
   * moved on meanwhile is not overwritten (the fresh credential is then revoked again where the registry
   * allows). Returns the new version, read back.
   */
  issue(
    current: ResolvedCredentials | undefined,
    inUse: CredentialRef | undefined,
  ): Promise<{ issued: CredentialRef; stored: ResolvedCredentials }>;
  revoke(ref: CredentialRef): Promise<void>;
}

/** The meta keys stored with an issued credential (Key Vault tags, Vault KV fields). */
export const META = {
  issuer: `${META_PREFIX}issuer`,
  id: `${META_PREFIX}credential-id`,
  label: `${META_PREFIX}credential`,
  issuedAt: `${META_PREFIX}issued-at`,
  expiresAt: `${META_PREFIX}expires-at`,
} as const;

/** The registry-side credential a stored version belongs to, from its meta (undefined: not issued by us). */
export function storedRef(meta: Record<string, string> | undefined): CredentialRef | undefined {
  const id = meta?.[META.id];
  const issued = meta?.[META.issuedAt];
  if (id === undefined || issued === undefined || Number.isNaN(Date.parse(issued))) return undefined;
  const exp = meta?.[META.expiresAt];
  return {
    id,
    label: meta?.[META.label] ?? id,
    issuedAt: new Date(issued),
    expiresAt: exp !== undefined && !Number.isNaN(Date.parse(exp)) ? new Date(exp) : undefined,
  };
}

function metaOf(issuerType: string, ref: CredentialRef): Record<string, string> {
  return {
    [META.issuer]: issuerType,
    [META.id]: ref.id,
    [META.label]: ref.label,
    [META.issuedAt]: ref.issuedAt.toISOString(),
    ...(ref.expiresAt ? { [META.expiresAt]: ref.expiresAt.toISOString() } : {}),
  };
}

/**
 * Where an issuer writes a target's credentials: one store key and the field names username and password go
 * in. `json`: the key holds {"username","password"}. `username` + `password` as two fields of one Vault
 * secret (`path#user`, `path#pass`): the secret gets both fields in one version. Anything else cannot be
 * written atomically (two Key Vault secrets would be two writes): an error for the config rules.
 */
export function issuedWriteOf(
  c: CredentialsConfig,
): { key: string; username: string; password: string } | { error: string } {
  if (c.shape === 'json') return { key: c.json.key, username: 'username', password: 'password' };
  if (c.shape === 'username-password') {
    const [u, p] = [c.username.key, c.password.key].map((k) => {
      const i = k.indexOf('#');
      return i < 0 ? undefined : { path: k.slice(0, i), field: k.slice(i + 1) };
    });
    if (u && p && u.path === p.path && u.field !== p.field)
      return { key: u.path, username: u.field, password: p.field };
  }
  return {
    error:
      'an issuer writes the credential as one store version: use `credentials.json`, or username and password as two fields of one Vault secret (`path#username`, `path#password`)',
  };
}

class StoreSource implements CredentialSource {
  readonly target: CredentialTarget;
  readonly issuing: IssuingSide | undefined;
  readonly #store: SecretStore;

  constructor(target: CredentialTarget, store: SecretStore, issuer: Issuer | undefined) {
    this.target = target;
    this.#store = store;
    this.issuing = issuer ? new StoreIssuing(target, store, issuer) : undefined;
  }

  read(cache: FetchCache = new Map()): Promise<ResolvedCredentials> {
    return resolveCredentials(this.target, this.#store, cache);
  }
}

class StoreIssuing implements IssuingSide {
  readonly issuer: Issuer;
  readonly #target: CredentialTarget;
  readonly #store: SecretStore;

  constructor(target: CredentialTarget, store: SecretStore, issuer: Issuer) {
    this.#target = target;
    this.#store = store;
    this.issuer = issuer;
  }

  list(): Promise<ManagedCredential[]> {
    return this.issuer.list();
  }

  async issue(
    current: ResolvedCredentials | undefined,
    inUse: CredentialRef | undefined,
  ): Promise<{ issued: CredentialRef; stored: ResolvedCredentials }> {
    const where = issuedWriteOf(this.#target.credentials);
    if ('error' in where)
      throw new RotatorError('CONFIG_INVALID', `target ${this.#target.name}: ${where.error}`);
    const put = this.#store.put?.bind(this.#store);
    if (!put)
      throw new RotatorError(
        'STORE_READ_ONLY',
        `target ${this.#target.name}: store "${this.#store.name}" (${this.#store.type}) cannot be written; an issuer needs a vault or azure-key-vault store`,
      );
    // The version the new one must follow: read now, not taken from `current` (which may be a joined
    // revision of two keys).
    const base = await this.#store.get(where.key).then(
      (v) => v.revision,
      (e: unknown) => {
        if (isRotatorError(e, 'STORE_NOT_FOUND')) return null;
        throw e;
      },
    );
    if (current !== undefined && base === null)
      throw new RotatorError(
        'STORE_CONFLICT',
        `target ${this.#target.name}: store "${this.#store.name}" key "${where.key}" disappeared since it was read; nothing was issued`,
      );
    const issued: IssuedCredential = await this.issuer.issue(inUse);
    try {
      await put(
        where.key,
        {
          fields: { [where.username]: issued.username, [where.password]: issued.password },
          meta: metaOf(this.issuer.type, issued.ref),
          expiresAt: issued.ref.expiresAt,
        },
        base,
      );
    } catch (e) {
      // A write whose answer was lost may still have landed: what the store holds now decides.
      const landed = await this.#store.get(where.key).then(
        (v) => storedRef(v.meta)?.id === issued.ref.id,
        () => false,
      );
      if (!landed) {
        // Never stored, so never rolled out: where the registry keeps many credentials, take it back now
        // (a later run would, too). A slot or an account in turn is simply issued again next time.
        if (this.issuer.class === 'many-tokens') await this.issuer.revoke(issued.ref).catch(() => undefined);
        throw e;
      }
    }
    return { issued: issued.ref, stored: await resolveCredentials(this.#target, this.#store, new Map()) };
  }

  revoke(ref: CredentialRef): Promise<void> {
    return this.issuer.revoke(ref);
  }
}

export function openSource(target: CredentialTarget, store: SecretStore, issuer?: Issuer): CredentialSource {
  return new StoreSource(target, store, issuer);
}
