import { z } from 'zod';

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
  /** Only for emulators whose host is not *.vault.azure.net (e.g. lowkey-vault). */
  disableChallengeResourceVerification: z.boolean().default(false),
  requestTimeoutSeconds: z.number().positive().default(15),
});
export type AzureKeyVaultStoreConfig = z.infer<typeof azureKeyVaultStoreSchema>;
