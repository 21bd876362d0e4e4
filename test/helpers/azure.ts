/**
 * The stack's Azure double, as tests use it: the real SDKs with the writer app's identity (to put secrets
 * in the vault), the double's admin API (knobs), and the environment a rotator process needs to reach it
 * with a given identity. Importing this module makes this process resolve the Azure names to 127.0.0.1.
 */
import '../stack/azure/resolve.ts';
import { ClientSecretCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import type { EnvOverrides } from './rotator.ts';
import { env } from './stack.ts';

export const azure = {
  get tenant() {
    return env('REGCRED_STACK_AZURE_TENANT');
  },
  get vaultUrl() {
    return env('REGCRED_STACK_AZURE_VAULT_URL');
  },
  id(name: 'WRITER' | 'READER' | 'NOROLE' | 'WORKLOAD' | 'MI_SYSTEM' | 'MI_USER' | 'MI_NOROLE'): string {
    return env(`REGCRED_STACK_AZURE_${name}`);
  },
  secret(name: 'WRITER' | 'READER' | 'NOROLE'): string {
    return env(`REGCRED_STACK_AZURE_${name}_SECRET`);
  },
};

let writer: SecretClient | undefined;
/** A SecretClient as the writer app ("Key Vault Secrets Officer"), for putting test secrets in the vault. */
export function vaultWriter(): SecretClient {
  writer ??= new SecretClient(
    azure.vaultUrl,
    new ClientSecretCredential(azure.tenant, azure.id('WRITER'), azure.secret('WRITER')),
  );
  return writer;
}

/** The double's admin API: fault knobs, request log, federated credentials, role assignments. */
export async function azureAdmin(method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${env('REGCRED_STACK_AZURE_ADMIN')}/${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`azure admin ${method} ${path}: HTTP ${res.status}`);
  return res.json();
}

const CLEARED = [
  'AZURE_CLIENT_ID',
  'AZURE_TENANT_ID',
  'AZURE_CLIENT_SECRET',
  'AZURE_CLIENT_CERTIFICATE_PATH',
  'AZURE_FEDERATED_TOKEN_FILE',
  'AZURE_AUTHORITY_HOST',
  'AZURE_POD_IDENTITY_AUTHORITY_HOST',
  'IDENTITY_ENDPOINT',
  'IDENTITY_HEADER',
  'MSI_ENDPOINT',
  'MSI_SECRET',
];

export type AzureIdentity =
  | { kind: 'environment'; app: 'READER' | 'NOROLE'; tenant?: string }
  | { kind: 'workload'; tokenFile: string; clientId?: string; tenant?: string }
  | { kind: 'imds' }
  | { kind: 'app-service' };

/**
 * Environment for a rotator process that reaches the double as `who`: the name-resolution hook, and only
 * the variables of that identity (every other Azure variable is removed, so the chain cannot pick another).
 */
export function azureEnv(who: AzureIdentity): EnvOverrides {
  const e: EnvOverrides = Object.fromEntries(CLEARED.map((k) => [k, undefined]));
  e['NODE_OPTIONS'] = `--import=${env('REGCRED_STACK_AZURE_RESOLVE')}`;
  switch (who.kind) {
    case 'environment':
      Object.assign(e, {
        AZURE_TENANT_ID: who.tenant ?? azure.tenant,
        AZURE_CLIENT_ID: azure.id(who.app),
        AZURE_CLIENT_SECRET: azure.secret(who.app),
      });
      break;
    case 'workload':
      Object.assign(e, {
        AZURE_TENANT_ID: who.tenant ?? azure.tenant,
        AZURE_CLIENT_ID: who.clientId ?? azure.id('WORKLOAD'),
        AZURE_FEDERATED_TOKEN_FILE: who.tokenFile,
      });
      break;
    case 'imds':
      e['AZURE_POD_IDENTITY_AUTHORITY_HOST'] = env('REGCRED_STACK_AZURE_IMDS');
      break;
    case 'app-service':
      e['IDENTITY_ENDPOINT'] = env('REGCRED_STACK_AZURE_APPSERVICE_ENDPOINT');
      e['IDENTITY_HEADER'] = env('REGCRED_STACK_AZURE_APPSERVICE_HEADER');
      break;
  }
  return e;
}
