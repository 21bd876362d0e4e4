import type { TokenCredential } from '@azure/identity';
import type { KeyVaultSecret, SecretClient } from '@azure/keyvault-secrets';
import { Sensitive } from '../../base/sensitive.ts';
import {
  META_PREFIX,
  type SecretStore,
  type StoreEntry,
  type StoreProvider,
  type StoreValue,
  type StoreWrite,
} from '../types.ts';
import { isRotatorError } from '../../errors.ts';
import { mapAzureError, storeError, type Where } from './errors.ts';
import { describeIdentity, makeCredential } from './identity.ts';
import type { AzureKeyVaultStoreConfig } from './schema.ts';

const KV_SCOPE = 'https://vault.azure.net/.default';

/**
 * Azure Key Vault secrets. A credentials key is a secret name; the current version is read.
 * Revision: the version id; source age: `updatedOn`. A disabled, expired or not-yet-valid secret is refused
 * (the vault itself returns expired ones: refusing them is our job). The SDKs are loaded on first use.
 */
class AzureKeyVaultStore implements SecretStore {
  readonly type = 'azure-key-vault';
  readonly name: string;
  readonly #config: AzureKeyVaultStoreConfig;
  #client: Promise<{ client: SecretClient; credential: TokenCredential }> | undefined;

  constructor(name: string, config: AzureKeyVaultStoreConfig) {
    this.name = name;
    this.#config = config;
  }

  #where(key: string | undefined): Where {
    return {
      store: this.name,
      vaultUrl: this.#config.vaultUrl,
      identity: describeIdentity(this.#config),
      key,
    };
  }

  #connect(): Promise<{ client: SecretClient; credential: TokenCredential }> {
    this.#client ??= (async () => {
      const { SecretClient } = await import('@azure/keyvault-secrets');
      const credential = await makeCredential(this.#config);
      const client = new SecretClient(this.#config.vaultUrl, credential, {
        disableChallengeResourceVerification: this.#config.disableChallengeResourceVerification,
        // 429 and 503 are retried after Retry-After by the SDK's throttling policy; other 5xx with backoff.
        retryOptions: { maxRetries: 3, retryDelayInMs: 500, maxRetryDelayInMs: 5000 },
      });
      return { client, credential };
    })();
    return this.#client;
  }

  async get(key: string): Promise<StoreValue> {
    const { client } = await this.#connect();
    let secret;
    try {
      secret = await client.getSecret(key, {
        abortSignal: AbortSignal.timeout(this.#config.requestTimeoutSeconds * 1000),
      });
    } catch (e) {
      throw mapAzureError(e, this.#where(key));
    }
    return this.#valueOf(key, secret);
  }

  /** A version as get() and put() return it; one that may not be used is refused here. */
  #valueOf(key: string, secret: KeyVaultSecret): StoreValue {
    const p = secret.properties;
    const w = this.#where(key);
    if (p.enabled === false)
      throw storeError(
        'STORE_SECRET_DISABLED',
        w,
        'the secret is disabled in the vault (nothing was rolled out)',
      );
    if (p.expiresOn !== undefined && p.expiresOn.getTime() <= Date.now()) {
      throw storeError(
        'STORE_SECRET_EXPIRED',
        w,
        `the secret expired on ${p.expiresOn.toISOString()}; store a new version with a later expiry (nothing was rolled out)`,
      );
    }
    if (p.notBefore !== undefined && p.notBefore.getTime() > Date.now()) {
      throw storeError(
        'STORE_SECRET_DISABLED',
        w,
        `the secret is not valid before ${p.notBefore.toISOString()} (its "nbf"); nothing was rolled out`,
      );
    }
    if (typeof secret.value !== 'string')
      throw storeError('STORE_VALUE_MALFORMED', w, 'the secret has no value');
    const version = p.version ?? 'unknown';
    const meta = Object.fromEntries(Object.entries(p.tags ?? {}).filter(([k]) => k.startsWith(META_PREFIX)));
    return {
      value: new Sensitive(secret.value),
      revision: `${key}@${version}`,
      version: `${key}@${version}`,
      updatedAt: p.updatedOn ?? p.createdOn,
      expiresAt: p.expiresOn,
      meta: Object.keys(meta).length > 0 ? meta : undefined,
    };
  }

  /**
   * A new version of the secret: the credential's fields as one JSON object (what the `json` shape reads),
   * meta as tags, the expiry as `exp`. Key Vault has no conditional write: the current version is compared
   * with `ifRevision` just before writing, so this guards against a change made since the run read it, not
   * against a writer racing in the same second — one writer per target is the run lock's job.
   */
  async put(key: string, write: StoreWrite, ifRevision: string | null): Promise<StoreValue> {
    const current = await this.get(key).then(
      (v) => v.revision,
      (e: unknown) => {
        if (isRotatorError(e, 'STORE_NOT_FOUND')) return null;
        throw e;
      },
    );
    if (current !== ifRevision)
      throw storeError(
        'STORE_CONFLICT',
        this.#where(key),
        `the secret changed since it was read (now ${current ?? 'absent'}, expected ${ifRevision ?? 'absent'}); nothing was written`,
      );
    const { client } = await this.#connect();
    const value = JSON.stringify(
      Object.fromEntries(
        Object.entries(write.fields).map(([k, v]) => [k, typeof v === 'string' ? v : v.reveal()]),
      ),
    );
    let written;
    try {
      written = await client.setSecret(key, value, {
        contentType: 'application/json',
        tags: write.meta,
        expiresOn: write.expiresAt,
        abortSignal: AbortSignal.timeout(this.#config.requestTimeoutSeconds * 1000),
      });
    } catch (e) {
      throw mapAzureError(e, { ...this.#where(key), writing: true });
    }
    // The answer is the new version itself: reading it back would cost a request per write.
    return this.#valueOf(key, written);
  }

  /** One listing of the vault's secrets (25 a page, with their tags): no read of each value. */
  async listChildren(parent: string): Promise<StoreEntry[]> {
    const { client } = await this.#connect();
    const prefix = `${parent}-`;
    const out: StoreEntry[] = [];
    try {
      for await (const p of client.listPropertiesOfSecrets({
        abortSignal: AbortSignal.timeout(this.#config.requestTimeoutSeconds * 1000 * 10),
      })) {
        if (!p.name.startsWith(prefix) || p.enabled === false) continue;
        const meta = Object.fromEntries(
          Object.entries(p.tags ?? {}).filter(([k]) => k.startsWith(META_PREFIX)),
        );
        out.push({
          key: p.name,
          name: p.name.slice(prefix.length),
          revision: `${p.name}@${p.version ?? 'unknown'}`,
          meta,
        });
      }
    } catch (e) {
      throw mapAzureError(e, this.#where(parent));
    }
    return out;
  }

  async check(): Promise<string> {
    const { client, credential } = await this.#connect();
    const signal = () => AbortSignal.timeout(this.#config.requestTimeoutSeconds * 1000);
    try {
      await credential.getToken(KV_SCOPE, { abortSignal: signal() });
    } catch (e) {
      throw mapAzureError(e, this.#where(undefined));
    }
    const identity = describeIdentity(this.#config);
    try {
      const page = client.listPropertiesOfSecrets({ abortSignal: signal() }).byPage({ maxPageSize: 1 });
      await page.next();
      return `authenticated as ${identity}; secrets listable`;
    } catch (e) {
      const mapped = mapAzureError(e, this.#where(undefined));
      if (mapped.code === 'STORE_PERMISSION')
        return `authenticated as ${identity} (it may not list secrets; reading each one is what rotation needs)`;
      throw mapped;
    }
  }

  async close(): Promise<void> {}
}

export const azureKeyVaultStoreProvider: StoreProvider<AzureKeyVaultStoreConfig> = {
  type: 'azure-key-vault',
  create: (name, config) => new AzureKeyVaultStore(name, config),
};
