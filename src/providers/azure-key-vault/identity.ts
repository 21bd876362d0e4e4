import type { TokenCredential } from '@azure/identity';
import type { AzureKeyVaultStoreConfig } from './schema.ts';

type Env = Record<string, string | undefined>;

/** The Azure identity the store uses, built lazily so the SDK is loaded only when a vault is configured. */
/** The identity options (shared by the Key Vault store and the ACR issuer). */
export type AzureIdentity = Pick<AzureKeyVaultStoreConfig, 'credential' | 'managedIdentityClientId'>;

export async function makeCredential(config: AzureIdentity): Promise<TokenCredential> {
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

const short = (v: string | undefined): string => v ?? 'unset';

function workload(env: Env): string {
  return `workload identity (client ${short(env['AZURE_CLIENT_ID'])}, tenant ${short(env['AZURE_TENANT_ID'])}, token file ${short(env['AZURE_FEDERATED_TOKEN_FILE'])})`;
}

function managed(clientId: string | undefined, env: Env): string {
  // @azure/identity turns a managed identity into workload identity when the federated token is present.
  if ((clientId ?? env['AZURE_CLIENT_ID']) && env['AZURE_TENANT_ID'] && env['AZURE_FEDERATED_TOKEN_FILE'])
    return `managed identity via ${workload(env)}`;
  const which = clientId ? `user-assigned managed identity ${clientId}` : 'system-assigned managed identity';
  const where = env['IDENTITY_ENDPOINT']
    ? `App Service endpoint ${env['IDENTITY_ENDPOINT']}`
    : `IMDS ${env['AZURE_POD_IDENTITY_AUTHORITY_HOST'] ?? 'http://169.254.169.254'}`;
  return `${which} (${where})`;
}

function environment(env: Env): string {
  const how = env['AZURE_CLIENT_SECRET']
    ? 'client secret'
    : env['AZURE_CLIENT_CERTIFICATE_PATH']
      ? 'client certificate'
      : 'no secret or certificate set';
  return `environment credential (client ${short(env['AZURE_CLIENT_ID'])}, tenant ${short(env['AZURE_TENANT_ID'])}, ${how})`;
}

/**
 * Which identity a request is made as, for error messages: names and ids only, never a secret or token.
 * For `default`, the member of DefaultAzureCredential's chain that the environment selects.
 */
export function describeIdentity(config: AzureIdentity, env: Env = process.env): string {
  const clientId = config.managedIdentityClientId;
  switch (config.credential) {
    case 'workload-identity':
      return workload(env);
    case 'managed-identity':
      return managed(clientId, env);
    case 'environment':
      return environment(env);
    case 'azure-cli':
      return 'Azure CLI login';
    case 'default':
      if (
        env['AZURE_TENANT_ID'] &&
        env['AZURE_CLIENT_ID'] &&
        (env['AZURE_CLIENT_SECRET'] || env['AZURE_CLIENT_CERTIFICATE_PATH'])
      )
        return `default chain: ${environment(env)}`;
      if (env['AZURE_TENANT_ID'] && env['AZURE_CLIENT_ID'] && env['AZURE_FEDERATED_TOKEN_FILE'])
        return `default chain: ${workload(env)}`;
      return `default chain: ${managed(clientId, env)}, then Azure CLI`;
  }
}
