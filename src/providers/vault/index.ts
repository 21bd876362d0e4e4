import { resolve } from 'node:path';
import { Sensitive } from '../../base/sensitive.ts';
import { RotatorError } from '../../errors.ts';
import { ConnectionPool } from '../../net/http.ts';
import type { SecretStore, StoreContext, StoreProvider, StoreValue } from '../types.ts';
import { makeLogin } from './auth.ts';
import { VaultClient } from './client.ts';
import { vaultStoreSchema, type VaultStoreConfig } from './schema.ts';

/**
 * HashiCorp Vault / OpenBao, KV v2. A credentials key is `path` or `path#field`:
 * - `path#field`: that field of the secret's data;
 * - `path` with a single field: that field;
 * - `path` with several fields: the data as a JSON object (so a KV secret with `username` and `password`
 *   fields serves the `json` credentials shape directly).
 * Revision: `path@version`; source age: the version's `created_time`.
 */
class VaultStore implements SecretStore {
  readonly type = 'vault';
  readonly name: string;
  readonly #client: VaultClient;
  readonly #mount: string;
  readonly #pool: ConnectionPool;

  constructor(name: string, config: VaultStoreConfig, ctx: StoreContext) {
    this.name = name;
    this.#mount = config.mount.replace(/^\/+|\/+$/g, '');
    this.#pool = new ConnectionPool(
      config.caFile === undefined ? undefined : resolve(ctx.baseDir, config.caFile),
    );
    this.#client = new VaultClient({
      storeName: name,
      address: config.address,
      namespace: config.namespace,
      pool: this.#pool,
      timeoutMs: config.requestTimeoutSeconds * 1000,
      login: makeLogin(name, config.auth, ctx.baseDir),
    });
  }

  async get(key: string): Promise<StoreValue> {
    const hash = key.indexOf('#');
    const path = (hash < 0 ? key : key.slice(0, hash)).replace(/^\/+/, '');
    const field = hash < 0 ? undefined : key.slice(hash + 1);
    if (path === '')
      throw new RotatorError('STORE_NOT_FOUND', `store "${this.name}" (vault): key "${key}" has no path`);
    const kv = await this.#client.readKv(this.#mount, path);
    let value: unknown;
    if (field !== undefined) {
      if (!Object.hasOwn(kv.data, field)) {
        throw new RotatorError(
          'STORE_NOT_FOUND',
          `store "${this.name}" (vault) key "${key}": ${this.#mount}/${path} version ${kv.version} has no field "${field}" (fields: ${Object.keys(kv.data).join(', ')})`,
          {
            details: { store: this.name, key },
          },
        );
      }
      value = kv.data[field];
    } else {
      const fields = Object.keys(kv.data);
      value = fields.length === 1 ? kv.data[fields[0] ?? ''] : JSON.stringify(kv.data);
    }
    if (typeof value !== 'string') {
      throw new RotatorError(
        'STORE_VALUE_MALFORMED',
        `store "${this.name}" (vault) key "${key}": the field is not a string`,
        {
          details: { store: this.name, key },
        },
      );
    }
    const version = `${this.#mount}/${path}@${kv.version}`;
    return { value: new Sensitive(value), revision: version, version, updatedAt: kv.createdTime };
  }

  async check(): Promise<string> {
    return this.#client.describeAuth();
  }

  close(): Promise<void> {
    this.#pool.close();
    return Promise.resolve();
  }
}

export const vaultStoreProvider: StoreProvider<VaultStoreConfig> = {
  type: 'vault',
  schema: vaultStoreSchema,
  create: (name, config, ctx) => new VaultStore(name, config, ctx),
};
