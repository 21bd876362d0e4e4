import { z } from 'zod';
import { RotatorError } from '../errors.ts';
import { azureKeyVaultStoreProvider } from './azure-key-vault/index.ts';
import { azureKeyVaultStoreSchema } from './azure-key-vault/schema.ts';
import { fileStoreProvider } from './file/index.ts';
import { fileStoreSchema } from './file/schema.ts';
import type { SecretStore, StoreContext, StoreProvider } from './types.ts';
import { vaultStoreProvider } from './vault/index.ts';
import { vaultStoreSchema } from './vault/schema.ts';

/** Every store type. Adding one: its own folder, one line here, one member of the union below. */
const providers = new Map<string, StoreProvider<{ type: string }>>();
providers.set(fileStoreProvider.type, fileStoreProvider);
providers.set(vaultStoreProvider.type, vaultStoreProvider);
providers.set(azureKeyVaultStoreProvider.type, azureKeyVaultStoreProvider);

export const storeConfigSchema = z.discriminatedUnion(
  'type',
  [fileStoreSchema, vaultStoreSchema, azureKeyVaultStoreSchema],
  { error: () => `must be one of: ${[...providers.keys()].join(', ')}` },
);
export type StoreConfig = z.infer<typeof storeConfigSchema>;

export function createStore(name: string, config: StoreConfig, ctx: StoreContext): SecretStore {
  const provider = providers.get(config.type);
  if (!provider)
    throw new RotatorError('CONFIG_INVALID', `stores.${name}.type: unknown store type "${config.type}"`);
  return provider.create(name, config, ctx);
}
