import { resolve } from 'node:path';
import { Sensitive } from '../../base/sensitive.ts';
import { isRotatorError, RotatorError } from '../../errors.ts';
import { ConnectionPool } from '../../net/http.ts';
import { Limiter } from '../../base/pool.ts';
import {
  META_PREFIX,
  type SecretStore,
  type StoreContext,
  type StoreEntry,
  type StoreProvider,
  type StoreValue,
  type StoreWrite,
} from '../types.ts';
import { makeLogin } from './auth.ts';
import { VaultClient, type KvVersion } from './client.ts';
import { vaultChildKey, type VaultStoreConfig } from './schema.ts';

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

  #parse(key: string): { path: string; field: string | undefined } {
    const hash = key.indexOf('#');
    const path = (hash < 0 ? key : key.slice(0, hash)).replace(/^\/+/, '');
    if (path === '')
      throw new RotatorError('STORE_NOT_FOUND', `store "${this.name}" (vault): key "${key}" has no path`);
    return { path, field: hash < 0 ? undefined : key.slice(hash + 1) };
  }

  async get(key: string): Promise<StoreValue> {
    const { path, field } = this.#parse(key);
    const kv = await this.#client.readKv(this.#mount, path);
    return this.#value(key, path, field, kv);
  }

  #value(key: string, path: string, field: string | undefined, kv: KvVersion): StoreValue {
    // Fields this program records beside a credential (`regcred-…`) are its meta, never part of the value.
    const meta: Record<string, string> = {};
    const data: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(kv.data)) {
      if (k.startsWith(META_PREFIX) && typeof v === 'string') meta[k] = v;
      else data[k] = v;
    }
    let value: unknown;
    if (field !== undefined) {
      if (!Object.hasOwn(data, field)) {
        throw new RotatorError(
          'STORE_NOT_FOUND',
          `store "${this.name}" (vault) key "${key}": ${this.#mount}/${path} version ${kv.version} has no field "${field}" (fields: ${Object.keys(data).join(', ')})`,
          {
            details: { store: this.name, key },
          },
        );
      }
      value = data[field];
    } else {
      const fields = Object.keys(data);
      value = fields.length === 1 ? data[fields[0] ?? ''] : JSON.stringify(data);
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
    return {
      value: new Sensitive(value),
      revision: version,
      version,
      updatedAt: kv.createdTime,
      meta: Object.keys(meta).length > 0 ? meta : undefined,
    };
  }

  /**
   * A new KV v2 version with check-and-set on the version read before. `path`: the credential's fields become
   * the secret's fields; `path#field`: that field holds them as one JSON object (the secret's other fields
   * are kept). Meta goes in `regcred-…` fields of the same version, so value and meta change together.
   */
  async put(key: string, write: StoreWrite, ifRevision: string | null): Promise<StoreValue> {
    const { path, field } = this.#parse(key);
    const cas = ifRevision === null ? 0 : casVersion(ifRevision, `${this.#mount}/${path}`);
    if (cas === undefined)
      throw new RotatorError(
        'STORE_CONFLICT',
        `store "${this.name}" (vault) key "${key}": revision "${ifRevision}" is not a version of ${this.#mount}/${path}`,
      );
    const creds = Object.fromEntries(
      Object.entries(write.fields).map(([k, v]) => [k, typeof v === 'string' ? v : v.reveal()]),
    );
    let data: Record<string, string>;
    if (field === undefined) data = { ...creds, ...write.meta };
    else {
      const kept: Record<string, string> = {};
      if (cas > 0) {
        const current = await this.#client.readKv(this.#mount, path);
        for (const [k, v] of Object.entries(current.data))
          if (!k.startsWith(META_PREFIX) && typeof v === 'string') kept[k] = v;
      }
      data = { ...kept, [field]: JSON.stringify(creds), ...write.meta };
    }
    try {
      return this.#value(key, path, field, await this.#client.writeKv(this.#mount, path, data, cas));
    } catch (e) {
      if (!isRotatorError(e, 'STORE_CONFLICT')) throw e;
      const now = await this.#client.readKv(this.#mount, path).catch((err: unknown) => {
        // "Must not exist yet" and the current version was deleted (`kv delete`): get() calls that absent,
        // so it is written over — with check-and-set on that deleted version.
        const deleted = isRotatorError(err, 'STORE_NOT_FOUND') ? err.details['deletedVersion'] : undefined;
        if (ifRevision === null && typeof deleted === 'number') return deleted;
        throw e;
      });
      if (typeof now === 'number')
        return this.#value(key, path, field, await this.#client.writeKv(this.#mount, path, data, now));
      // A write applied whose answer was lost is retried and then refused by its own check-and-set: the
      // version that is there now is ours if it holds exactly what we wrote.
      if (now.version === cas + 1 && sameData(now.data, data)) return this.#value(key, path, field, now);
      throw e;
    }
  }

  async listChildren(parent: string): Promise<StoreEntry[]> {
    const folder = this.#parse(parent).path.replace(/\/+$/, '');
    const names = (await this.#client.listKv(this.#mount, folder)).filter((n) => !n.endsWith('/'));
    const limit = new Limiter(8);
    const entries = await Promise.all(
      names.map((name) =>
        limit.run(async () => {
          const key = vaultChildKey(folder, name);
          // LIST still names a key whose current version was deleted (`kv delete`): it holds no record.
          const v = await this.get(key).catch((e: unknown) => {
            if (isRotatorError(e, 'STORE_NOT_FOUND')) return undefined;
            throw e;
          });
          return v && { key, name, revision: v.revision, meta: v.meta ?? {} };
        }),
      ),
    );
    return entries.filter((e) => e !== undefined);
  }

  async check(): Promise<string> {
    return this.#client.describeAuth();
  }

  close(): Promise<void> {
    this.#pool.close();
    return Promise.resolve();
  }
}

/** The KV version number of a revision `mount/path@N` of this path. */
function casVersion(revision: string, at: string): number | undefined {
  const m = /^(.*)@(\d+)$/.exec(revision);
  return m && m[1] === at ? Number(m[2]) : undefined;
}

const sameData = (a: Record<string, unknown>, b: Record<string, string>): boolean =>
  Object.keys(a).length === Object.keys(b).length && Object.entries(b).every(([k, v]) => a[k] === v);

export const vaultStoreProvider: StoreProvider<VaultStoreConfig> = {
  type: 'vault',
  create: (name, config, ctx) => new VaultStore(name, config, ctx),
};
