import * as z from 'zod';
import { azureKeyVaultStoreSchema } from '../../providers/azure-key-vault/schema.ts';

/** The Key Vault store's identity options, as they are: one Azure identity can serve the vault and ARM. */
export const azureIdentitySchema = azureKeyVaultStoreSchema.pick({
  credential: true,
  managedIdentityClientId: true,
});
export type AzureIdentityConfig = z.infer<typeof azureIdentitySchema>;

const https = z
  .url({ error: 'must be a URL such as https://management.azure.com' })
  .refine((u) => u.startsWith('https://'), {
    error: 'must use https: ARM requests carry a bearer token',
  });

export const acrTokenIssuerSchema = z.strictObject({
  type: z.literal('acr-token'),
  subscriptionId: z.guid({ error: 'subscriptionId must be a subscription id (a GUID)' }),
  resourceGroup: z.string().min(1).max(90),
  /** The registry's resource name (`myregistry`), not its login server (`myregistry.azurecr.io`). */
  registry: z.string().regex(/^[a-zA-Z0-9]{5,50}$/, {
    error: "registry is the registry's resource name: 5-50 letters and digits, not its login server",
  }),
  /** The repository-scoped token whose two password slots are used in turn. */
  token: z
    .string()
    .regex(/^[a-zA-Z0-9-]{5,50}$/, { error: 'token must be 5-50 letters, digits and hyphens' }),
  /** Azure Resource Manager: https://management.azure.com, or a sovereign cloud's (e.g. management.usgovcloudapi.net). */
  armEndpoint: https.default('https://management.azure.com'),
  /** The resource ARM tokens are requested for; default: armEndpoint's origin, which is right in every Azure cloud. */
  armAudience: https.optional(),
  /**
   * Lifetime ACR enforces on each generated password. Default: the policy's maxAgeDays plus a grace
   * period, so a slot nobody revoked stops working on its own soon after it became a policy violation.
   */
  slotExpiryDays: z.number().int().positive().max(3650).optional(),
  identity: azureIdentitySchema.prefault({}),
  requestTimeoutSeconds: z.number().positive().default(15),
});
export type AcrTokenIssuerConfig = z.infer<typeof acrTokenIssuerSchema>;
