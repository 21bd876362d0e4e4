import * as z from 'zod';
import { RotatorError } from '../errors.ts';
import { azureKeyVaultStoreSchema } from './azure-key-vault/schema.ts';
import { fileStoreSchema } from './file/schema.ts';
import type { SecretStore, StoreContext, StoreProvider, StoreValue } from './types.ts';
import { vaultStoreSchema } from './vault/schema.ts';

/**
 * Every store type: its config schema here, its implementation loaded only when a configured store of
 * that type is first used (validating a config loads no SDK and no HTTP client). Adding one: its own
 * folder, one line here, one member of the union below.
 */
const providers = new Map<string, () => Promise<StoreProvider<{ type: string }>>>([
  ['file', async () => (await import('./file/index.ts')).fileStoreProvider],
  ['vault', async () => (await import('./vault/index.ts')).vaultStoreProvider],
  ['azure-key-vault', async () => (await import('./azure-key-vault/index.ts')).azureKeyVaultStoreProvider],
]);

export const storeConfigSchema = z.discriminatedUnion(
  'type',
  [fileStoreSchema, vaultStoreSchema, azureKeyVaultStoreSchema],
  { error: () => `must be one of: ${[...providers.keys()].join(', ')}` },
);
export type StoreConfig = z.infer<typeof storeConfigSchema>;

/** A store whose implementation is loaded on first use. */
class LazyStore implements SecretStore {
  readonly name: string;
  readonly type: string;
  readonly #open: () => Promise<SecretStore>;
  #store: Promise<SecretStore> | undefined;

  constructor(name: string, type: string, open: () => Promise<SecretStore>) {
    this.name = name;
    this.type = type;
    this.#open = open;
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

  async close(): Promise<void> {
    if (this.#store) await (await this.#store).close();
  }
}

export function createStore(name: string, config: StoreConfig, ctx: StoreContext): SecretStore {
  const load = providers.get(config.type);
  if (!load)
    throw new RotatorError('CONFIG_INVALID', `stores.${name}.type: unknown store type "${config.type}"`);
  return new LazyStore(name, config.type, async () => (await load()).create(name, config, ctx));
}
