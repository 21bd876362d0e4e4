import * as z from 'zod';

export const azureKeyVaultStoreSchema = z.strictObject({
  type: z.literal('azure-key-vault'),
  vaultUrl: z.url({ error: 'vaultUrl must be a URL such as https://myvault.vault.azure.net' }),
  /**
   * Which Azure identity to use. `default` is the DefaultAzureCredential chain: environment, workload
   * identity (AKS: AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE), managed identity, Azure CLI.
   */
  credential: z
    .enum(['default', 'workload-identity', 'managed-identity', 'environment', 'azure-cli'])
    .default('default'),
  /** Client id of a user-assigned managed identity. */
  managedIdentityClientId: z.string().optional(),
  /**
   * Escape hatch for a vault reached under a name that is not *.vault.azure.net (a private endpoint alias,
   * an emulator): the SDK otherwise refuses a challenge whose resource does not match the vault's host.
   */
  disableChallengeResourceVerification: z.boolean().default(false),
  requestTimeoutSeconds: z.number().positive().default(15),
});
export type AzureKeyVaultStoreConfig = z.infer<typeof azureKeyVaultStoreSchema>;

/** The key of record `name` under `parent`: Key Vault names are flat (letters, digits, "-"). */
export const keyVaultChildKey = (parent: string, name: string): string => `${parent}-${name}`;
