import type { TokenCredential } from '@azure/identity';
import type { SecretClient } from '@azure/keyvault-secrets';
import { Sensitive } from '../../credentials/sensitive.ts';
import { RotatorError, type ErrorCode } from '../../errors.ts';
import type { SecretStore, StoreProvider, StoreValue } from '../types.ts';
import { azureKeyVaultStoreSchema, type AzureKeyVaultStoreConfig } from './schema.ts';

const KV_SCOPE = 'https://vault.azure.net/.default';

async function makeCredential(config: AzureKeyVaultStoreConfig): Promise<TokenCredential> {
  const id = await import('@azure/identity');
  const clientId = config.managedIdentityClientId;
  switch (config.credential) {
    case 'workload-identity':
      return new id.WorkloadIdentityCredential();
    case 'managed-identity':
      return clientId ? new id.ManagedIdentityCredential({ clientId }) : new id.ManagedIdentityCredential();
    case 'environment':
      return new id.EnvironmentCredential();
    case 'azure-cli':
      return new id.AzureCliCredential();
    case 'default':
      return new id.DefaultAzureCredential(clientId ? { managedIdentityClientId: clientId } : {});
  }
}

interface RestLike {
  statusCode?: number;
  code?: string;
  name?: string;
  message?: string;
}

/**
 * Azure Key Vault secrets. A credentials key is a secret name; the current version is read.
 * Revision: the version id; source age: `updatedOn`. Disabled or expired secrets are refused.
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

  #connect(): Promise<{ client: SecretClient; credential: TokenCredential }> {
    this.#client ??= (async () => {
      const { SecretClient } = await import('@azure/keyvault-secrets');
      const credential = await makeCredential(this.#config);
      const client = new SecretClient(this.#config.vaultUrl, credential, {
        disableChallengeResourceVerification: this.#config.disableChallengeResourceVerification,
        retryOptions: { maxRetries: 2, retryDelayInMs: 300, maxRetryDelayInMs: 3000 },
      });
      return { client, credential };
    })();
    return this.#client;
  }

  #fail(code: ErrorCode, key: string | undefined, what: string, cause?: unknown): RotatorError {
    const where = key === undefined ? '' : ` key "${key}"`;
    return new RotatorError(
      code,
      `store "${this.name}" (azure-key-vault ${this.#config.vaultUrl})${where}: ${what}`,
      {
        cause,
        retryable: code === 'STORE_UNREACHABLE' || code === 'STORE_UNAVAILABLE',
        details: { store: this.name, key },
      },
    );
  }

  #map(e: unknown, key: string | undefined): RotatorError {
    const r = (e ?? {}) as RestLike;
    const msg = (r.message ?? '').split('\n')[0]?.slice(0, 200) ?? '';
    if (
      r.name === 'CredentialUnavailableError' ||
      r.name === 'AuthenticationError' ||
      r.name === 'AggregateAuthenticationError'
    ) {
      return this.#fail('STORE_AUTH', key, `no Azure identity could get a token (${r.name}: ${msg})`, e);
    }
    if (r.statusCode === 404) return this.#fail('STORE_NOT_FOUND', key, 'no such secret in the vault', e);
    if (r.statusCode === 401) return this.#fail('STORE_AUTH', key, 'the vault refused our token (401)', e);
    if (r.statusCode === 403) {
      if (/disabled/i.test(msg) || r.code === 'SecretDisabled')
        return this.#fail(
          'STORE_SECRET_DISABLED',
          key,
          'the secret is disabled in the vault; enable it or point the target at another secret',
          e,
        );
      return this.#fail(
        'STORE_PERMISSION',
        key,
        `permission denied: the identity needs "get" on secrets (${r.code ?? 'Forbidden'})`,
        e,
      );
    }
    if (r.statusCode !== undefined && (r.statusCode === 429 || r.statusCode >= 500)) {
      return this.#fail('STORE_UNAVAILABLE', key, `the vault answered HTTP ${r.statusCode}`, e);
    }
    if (r.code === 'REQUEST_SEND_ERROR' || r.statusCode === undefined) {
      return this.#fail(
        'STORE_UNREACHABLE',
        key,
        `cannot reach the vault (${r.code ?? r.name ?? 'network error'})`,
        e,
      );
    }
    return this.#fail(
      'STORE_UNAVAILABLE',
      key,
      `unexpected answer (HTTP ${r.statusCode}, ${r.code ?? 'no code'})`,
      e,
    );
  }

  async get(key: string): Promise<StoreValue> {
    const { client } = await this.#connect();
    let secret;
    try {
      secret = await client.getSecret(key, {
        abortSignal: AbortSignal.timeout(this.#config.requestTimeoutSeconds * 1000),
      });
    } catch (e) {
      throw this.#map(e, key);
    }
    const p = secret.properties;
    if (p.enabled === false)
      throw this.#fail('STORE_SECRET_DISABLED', key, 'the secret is disabled in the vault');
    if (p.expiresOn !== undefined && p.expiresOn.getTime() <= Date.now()) {
      throw this.#fail(
        'STORE_SECRET_EXPIRED',
        key,
        `the secret expired on ${p.expiresOn.toISOString()}; store a new version with a later expiry (nothing was rolled out)`,
      );
    }
    if (p.notBefore !== undefined && p.notBefore.getTime() > Date.now()) {
      throw this.#fail(
        'STORE_SECRET_DISABLED',
        key,
        `the secret is not valid before ${p.notBefore.toISOString()}`,
      );
    }
    if (typeof secret.value !== 'string')
      throw this.#fail('STORE_VALUE_MALFORMED', key, 'the secret has no value');
    const version = p.version ?? 'unknown';
    return {
      value: new Sensitive(secret.value),
      revision: `${key}@${version}`,
      version: `${key}@${version.slice(0, 12)}`,
      updatedAt: p.updatedOn ?? p.createdOn,
      expiresAt: p.expiresOn,
    };
  }

  async check(): Promise<string> {
    const { client, credential } = await this.#connect();
    try {
      await credential.getToken(KV_SCOPE, {
        abortSignal: AbortSignal.timeout(this.#config.requestTimeoutSeconds * 1000),
      });
    } catch (e) {
      throw this.#map(e, undefined);
    }
    try {
      const page = client.listPropertiesOfSecrets().byPage({ maxPageSize: 1 });
      await page.next();
      return 'authenticated; secrets listable';
    } catch (e) {
      const mapped = this.#map(e, undefined);
      if (mapped.code === 'STORE_PERMISSION')
        return 'authenticated (the identity may not list secrets; "get" is what rotation needs)';
      throw mapped;
    }
  }

  async close(): Promise<void> {}
}

export const azureKeyVaultStoreProvider: StoreProvider<AzureKeyVaultStoreConfig> = {
  type: 'azure-key-vault',
  schema: azureKeyVaultStoreSchema,
  create: (name, config) => new AzureKeyVaultStore(name, config),
};
