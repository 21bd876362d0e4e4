/**
 * The Azure Key Vault store against the stack's Key Vault + Entra ID double, through the real
 * @azure/keyvault-secrets and @azure/identity: the store contract, the three credential shapes, secrets the
 * vault marks unusable. The store runs as the system-assigned managed identity (IMDS); the tests write with
 * the writer app. Identity chains end to end, errors and faults through the CLI: azure-cli.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/load.ts';
import { resolveCredentials } from '../../src/credentials/resolve.ts';
import { RotatorError } from '../../src/errors.ts';
import { silentLogger } from '../../src/base/logger.ts';
import { azureKeyVaultStoreProvider } from '../../src/providers/azure-key-vault/index.ts';
import { azureKeyVaultStoreSchema } from '../../src/providers/azure-key-vault/schema.ts';
import { azure, azureAdmin, vaultWriter } from '../helpers/azure.ts';
import { env, stack, suffix } from '../helpers/stack.ts';
import { storeContract } from './store-contract.ts';

const sfx = suffix();
const ctx = { logger: silentLogger(), baseDir: '/' };

beforeAll(() => {
  process.env['AZURE_POD_IDENTITY_AUTHORITY_HOST'] = env('REGCRED_STACK_AZURE_IMDS');
});

const store = (over: Record<string, unknown> = {}) =>
  azureKeyVaultStoreProvider.create(
    'acr-kv',
    azureKeyVaultStoreSchema.parse({
      type: 'azure-key-vault',
      vaultUrl: azure.vaultUrl,
      credential: 'managed-identity',
      ...over,
    }),
    ctx,
  );

storeContract('azure-key-vault (the stack double)', () => ({
  store: () => store(),
  write: async (key, value) => {
    await vaultWriter().setSecret(key, value);
  },
  // A user-assigned identity the tenant does not have: IMDS answers 400 "Identity not found".
  unauthenticated: () => store({ managedIdentityClientId: randomUUID() }),
  unreachable: () => store({ vaultUrl: 'https://no-such-vault.vault.azure.net:1' }),
  // The user-assigned managed identity, made "Key Vault Secrets Officer" for these tests (beforeAll).
  writer: () => store({ managedIdentityClientId: azure.id('MI_USER') }),
}));

beforeAll(async () => {
  const config = JSON.parse(readFileSync(`${env('REGCRED_STACK_RUN')}/azure/config.json`, 'utf8')) as {
    managedIdentities: { clientId: string; objectId: string }[];
  };
  const principal = config.managedIdentities.find((m) => m.clientId === azure.id('MI_USER'))?.objectId;
  await azureAdmin('POST', 'roles', {
    principalId: principal,
    vault: new URL(azure.vaultUrl).hostname.split('.')[0],
    role: 'Key Vault Secrets Officer',
  });
});

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => 'no error',
    (e: unknown) => (e instanceof RotatorError ? e.code : String(e)),
  );

describe('Azure Key Vault store', () => {
  const target = (credentials: Record<string, unknown>) =>
    validateConfig(
      {
        stores: { k: { type: 'file', path: '.' } },
        targets: [
          { name: 't', store: 'k', registry: stack.registryBasic, credentials, namespaces: { names: ['n'] } },
        ],
      },
      't.yaml',
    ).targets[0]!;

  it('reads all three credential shapes: revision = version id, age = updatedOn', async () => {
    const c = vaultWriter();
    const u = await c.setSecret(`user-${sfx}`, stack.user);
    const p = await c.setSecret(`pass-${sfx}`, stack.password);
    await c.setSecret(`json-${sfx}`, JSON.stringify({ username: stack.user, password: stack.password }));
    await c.setSecret(
      `dcj-${sfx}`,
      JSON.stringify({
        auths: { [stack.registryBasic]: { username: stack.user, password: stack.password } },
      }),
    );
    for (const creds of [
      { username: { key: `user-${sfx}` }, password: { key: `pass-${sfx}` } },
      { json: { key: `json-${sfx}` } },
      { dockerconfigjson: { key: `dcj-${sfx}` } },
    ]) {
      const r = await resolveCredentials(target(creds), store(), new Map());
      expect(r.creds[0]?.password.reveal()).toBe(stack.password);
      expect(r.updatedAt).toBeInstanceOf(Date);
    }
    const v = await store().get(`pass-${sfx}`);
    expect(v.revision).toBe(`pass-${sfx}@${p.properties.version!}`);
    expect(v.revision).toMatch(/@[0-9a-f]{32}$/);
    expect(v.updatedAt?.getTime()).toBe(p.properties.updatedOn?.getTime());
    expect((await store().get(`user-${sfx}`)).version).toBe(`user-${sfx}@${u.properties.version!}`);
  });

  it('refuses a disabled, an expired and a not-yet-valid secret, naming store and key, never the value', async () => {
    const c = vaultWriter();
    const day = 86_400_000;
    await c.setSecret(`disabled-${sfx}`, 'value-disabled', { enabled: false });
    await c.setSecret(`expired-${sfx}`, 'value-expired', { expiresOn: new Date(Date.now() - day) });
    await c.setSecret(`early-${sfx}`, 'value-early', { notBefore: new Date(Date.now() + day) });
    // The vault itself returns expired and not-yet-valid secrets (Azure does); refusing them is the store's job.
    expect((await c.getSecret(`expired-${sfx}`)).value).toBe('value-expired');
    const cases = [
      [`disabled-${sfx}`, 'STORE_SECRET_DISABLED', /disabled in the vault/],
      [`expired-${sfx}`, 'STORE_SECRET_EXPIRED', /expired on \d{4}-/],
      [`early-${sfx}`, 'STORE_SECRET_DISABLED', /not valid before \d{4}-/],
    ] as const;
    for (const [key, code, text] of cases) {
      const err = await store()
        .get(key)
        .then(
          () => new Error('expected a failure'),
          (e: unknown) => e as RotatorError,
        );
      expect(err).toMatchObject({ code });
      expect(err.message).toMatch(text);
      expect(err.message).toContain(`key "${key}"`);
      expect(err.message).toContain(azure.vaultUrl);
      expect(err.message).not.toMatch(/value-(disabled|expired|early)/);
    }
  });

  it('check() proves the identity and says which one it is', async () => {
    expect(await store().check()).toMatch(/authenticated as system-assigned managed identity \(IMDS http/);
    expect(await codeOf(store({ managedIdentityClientId: randomUUID() }).check())).toBe('STORE_AUTH');
  });
});
