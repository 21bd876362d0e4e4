import * as z from 'zod';
import { azureKeyVaultStoreSchema, keyVaultChildKey } from './azure-key-vault/schema.ts';
import { fileStoreSchema } from './file/schema.ts';
import type {
  SecretStore,
  StoreContext,
  StoreEntry,
  StoreProvider,
  StoreValue,
  StoreWrite,
} from './types.ts';
import { vaultChildKey, vaultStoreSchema } from './vault/schema.ts';

/**
 * Every store type, one row each: its config schema (always loaded: validating a config loads no SDK and
 * no HTTP client), whether it can be written (an issuer stores new credentials in it), and its
 * implementation, loaded only when a configured store of that type is first used. Adding a store type: its
 * own folder and one row here. The row's key must be its schema's `type` (checked by the compiler).
 */
const STORES = {
  file: {
    schema: fileStoreSchema,
    writable: false,
    childKey: undefined,
    load: async () => (await import('./file/index.ts')).fileStoreProvider,
  },
  vault: {
    schema: vaultStoreSchema,
    writable: true,
    childKey: vaultChildKey,
    load: async () => (await import('./vault/index.ts')).vaultStoreProvider,
  },
  'azure-key-vault': {
    schema: azureKeyVaultStoreSchema,
    writable: true,
    childKey: keyVaultChildKey,
    load: async () => (await import('./azure-key-vault/index.ts')).azureKeyVaultStoreProvider,
  },
} as const satisfies {
  [T in string]: {
    schema: z.ZodType<{ type: T }>;
    writable: boolean;
    /** How records under a key are named (writable stores). */
    childKey: ((parent: string, name: string) => string) | undefined;
    load: () => Promise<StoreProvider<{ type: T }>>;
  };
};

type StoreType = keyof typeof STORES;
const TYPES = Object.keys(STORES) as StoreType[];

export const storeConfigSchema = z.discriminatedUnion(
  'type',
  [STORES.file.schema, STORES.vault.schema, STORES['azure-key-vault'].schema],
  { error: () => `must be one of: ${TYPES.join(', ')}` },
);
export type StoreConfig = z.infer<typeof storeConfigSchema>;

/** Whether stores of this type can take new versions (`SecretStore.put`). */
export const isWritableStoreType = (type: string): boolean =>
  Object.hasOwn(STORES, type) && STORES[type as StoreType].writable;

/** A store whose implementation is loaded on first use. */
class LazyStore implements SecretStore {
  readonly name: string;
  readonly type: string;
  readonly #open: () => Promise<SecretStore>;
  readonly #childKey: (parent: string, name: string) => string;
  #store: Promise<SecretStore> | undefined;

  constructor(
    name: string,
    type: string,
    open: () => Promise<SecretStore>,
    childKey: (parent: string, name: string) => string,
  ) {
    this.name = name;
    this.type = type;
    this.#open = open;
    this.#childKey = childKey;
  }

  #real(): Promise<SecretStore> {
    this.#store ??= this.#open();
    return this.#store;
  }

  async get(key: string): Promise<StoreValue> {
    return (await this.#real()).get(key);
  }

  async check(): Promise<string> {
    return (await this.#real()).check();
  }

  async put(key: string, write: StoreWrite, ifRevision: string | null): Promise<StoreValue> {
    const real = await this.#real();
    if (!real.put) throw new Error(`store type ${this.type} cannot be written`);
    return real.put(key, write, ifRevision);
  }

  async listChildren(parent: string): Promise<StoreEntry[]> {
    const real = await this.#real();
    if (!real.listChildren) throw new Error(`store type ${this.type} cannot list`);
    return real.listChildren(parent);
  }

  childKey(parent: string, name: string): string {
    return this.#childKey(parent, name);
  }

  async close(): Promise<void> {
    if (this.#store) await (await this.#store).close();
  }
}

export function createStore(name: string, config: StoreConfig, ctx: StoreContext): SecretStore {
  const row = STORES[config.type];
  const store = new LazyStore(
    name,
    config.type,
    async () => (await row.load()).create(name, config as never, ctx),
    row.childKey ?? ((p, n) => `${p}/${n}`),
  );
  if (!row.writable)
    for (const m of ['put', 'listChildren', 'childKey'])
      Object.defineProperty(store, m, { value: undefined });
  return store;
}
