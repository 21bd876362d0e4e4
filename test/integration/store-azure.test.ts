/**
 * The Azure Key Vault store against lowkey-vault (the Key Vault REST emulator), with a token from
 * @azure/identity's managed identity credential pointed at the emulator's token endpoint, TLS trusted
 * through the CA bundle. lowkey-vault's app jar is not on Maven Central (README, "Known gaps"): without it
 * the stack does not start it and every test here is skipped with that reason.
 */
import { SecretClient } from '@azure/keyvault-secrets';
import { ManagedIdentityCredential } from '@azure/identity';
import { beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/load.ts';
import { resolveCredentials } from '../../src/credentials/resolve.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { azureKeyVaultStoreProvider } from '../../src/providers/azure-key-vault/index.ts';
import { stack } from '../helpers/stack.ts';
import { storeContract } from './store-contract.ts';

const url = process.env['REGCRED_STACK_LOWKEY_URL'];
const SKIP =
  'lowkey-vault is not part of this stack: its jar is not on Maven Central (set REGCRED_LOWKEY_JAR to enable)';
const ctx = { logger: silentLogger(), baseDir: '/' };

beforeAll(() => {
  if (url) process.env['AZURE_POD_IDENTITY_AUTHORITY_HOST'] = process.env['REGCRED_STACK_LOWKEY_TOKEN_URL'];
});
const store = () =>
  azureKeyVaultStoreProvider.create(
    'acr-kv',
    azureKeyVaultStoreProvider.schema.parse({
      type: 'azure-key-vault',
      vaultUrl: url,
      credential: 'managed-identity',
      disableChallengeResourceVerification: true,
    }),
    ctx,
  );
const client = () =>
  new SecretClient(url ?? '', new ManagedIdentityCredential(), {
    disableChallengeResourceVerification: true,
  });

if (url) {
  storeContract('azure-key-vault (lowkey-vault)', () => ({
    store,
    write: async (key, value) => {
      await client().setSecret(key, value);
    },
    unauthenticated: { skip: 'lowkey-vault accepts any bearer token' },
    unreachable: () =>
      azureKeyVaultStoreProvider.create(
        'acr-kv',
        azureKeyVaultStoreProvider.schema.parse({
          type: 'azure-key-vault',
          vaultUrl: 'https://localhost:1',
          credential: 'managed-identity',
          disableChallengeResourceVerification: true,
        }),
        ctx,
      ),
  }));
}

describe('Azure Key Vault store (lowkey-vault)', () => {
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

  it('reads all three credential shapes, with version ids as revisions and updatedOn as age', async (t) => {
    if (!url) return t.skip(SKIP);
    const c = client();
    await c.setSecret('acr-username', stack.user);
    await c.setSecret('acr-password', stack.password);
    await c.setSecret('acr-json', JSON.stringify({ username: stack.user, password: stack.password }));
    await c.setSecret(
      'acr-dockercfg',
      JSON.stringify({
        auths: { [stack.registryBasic]: { username: stack.user, password: stack.password } },
      }),
    );
    for (const creds of [
      { username: { key: 'acr-username' }, password: { key: 'acr-password' } },
      { json: { key: 'acr-json' } },
      { dockerconfigjson: { key: 'acr-dockercfg' } },
    ]) {
      const r = await resolveCredentials(target(creds), store(), new Map());
      expect(r.creds[0]?.password.reveal()).toBe(stack.password);
      expect(r.updatedAt).toBeInstanceOf(Date);
    }
    const before = (await store().get('acr-password')).revision;
    await c.setSecret('acr-password', stack.password2);
    expect((await store().get('acr-password')).revision).not.toBe(before);
  });

  it('an expired secret is refused with a message naming store and key, never the value', async (t) => {
    if (!url) return t.skip(SKIP);
    await client().setSecret('expired-one', 'the-expired-value', {
      expiresOn: new Date(Date.now() - 86_400_000),
    });
    const err = await store()
      .get('expired-one')
      .then(
        () => new Error('expected a failure'),
        (e: unknown) => e as Error,
      );
    expect(err).toMatchObject({ code: 'STORE_SECRET_EXPIRED' });
    expect(err.message).toMatch(/store "acr-kv".*key "expired-one".*expired/);
    expect(err.message).not.toContain('the-expired-value');
  });
});
