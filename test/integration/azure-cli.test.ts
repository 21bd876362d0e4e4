/**
 * Azure Key Vault through the CLI, against the stack's Key Vault + Entra ID double with the product
 * unchanged: real *.vault.azure.net and login.microsoftonline.com names (resolved to the double inside the
 * test processes only), challenge-resource verification on, every identity chain of the SDK — workload
 * identity with a real ServiceAccount token of our API server, managed identity (IMDS, system- and
 * user-assigned; App Service), environment, and `default` choosing among them.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { azure, azureAdmin, azureEnv, vaultWriter, type AzureIdentity } from '../helpers/azure.ts';
import { runCli, Workspace, type CliResult } from '../helpers/rotator.ts';
import {
  api,
  createNamespace,
  deleteNamespaces,
  managedSecrets,
  pullSecretsOf,
  snapshotNamespaces,
  stack,
  suffix,
} from '../helpers/stack.ts';

const sfx = suffix();
const ns = `az-${sfx}`;
const saNs = `azwi-${sfx}`;
const key = (k: string) => `${k}-${sfx}`;
let tokenFile = '';

/** A ServiceAccount token for Entra (TokenRequest, audience api://AzureADTokenExchange), as AKS projects it. */
async function saToken(namespace: string, name: string): Promise<string> {
  await api()
    .createNamespacedServiceAccount({ namespace, body: { metadata: { name } } })
    .catch(() => undefined);
  const r = await api().createNamespacedServiceAccountToken({
    namespace,
    name,
    body: { spec: { audiences: ['api://AzureADTokenExchange'], expirationSeconds: 3600 } },
  });
  const f = join(new Workspace().dir, `${name}.token`);
  writeFileSync(f, r.status?.token ?? '');
  return f;
}

beforeAll(async () => {
  await createNamespace(ns);
  await createNamespace(saNs);
  const c = vaultWriter();
  await c.setSecret(key('user'), stack.user);
  await c.setSecret(key('pass'), stack.password);
  await c.setSecret(key('json'), JSON.stringify({ username: stack.user, password: stack.password }));
  await c.setSecret(
    key('dcj'),
    JSON.stringify({ auths: { [stack.registryBasic]: { username: stack.user, password: stack.password } } }),
  );
  tokenFile = await saToken(saNs, 'regcred-rotator');
  await azureAdmin('POST', 'federated', {
    clientId: azure.id('WORKLOAD'),
    issuer: 'https://kubernetes.default.svc.cluster.local',
    subject: `system:serviceaccount:${saNs}:regcred-rotator`,
    audience: 'api://AzureADTokenExchange',
  });
});
afterAll(() => deleteNamespaces([ns, saNs]));
afterEach(async () => {
  await azureAdmin('DELETE', 'faults');
});

function config(w: Workspace, store: Record<string, unknown> = {}, credentials?: Record<string, unknown>) {
  return w.writeConfig({
    stores: { kv: { type: 'azure-key-vault', vaultUrl: azure.vaultUrl, credential: 'default', ...store } },
    targets: [
      {
        name: 'az',
        store: 'kv',
        registry: stack.registryBasic,
        credentials: credentials ?? { json: { key: key('json') } },
        namespaces: { names: [ns] },
      },
    ],
    lock: { namespace: 'default', name: `az-${sfx}` },
  });
}

const run = (w: Workspace, args: string[], who: AzureIdentity): Promise<CliResult> =>
  runCli(['--config', w.config, '--log-format', 'json', ...args], { env: azureEnv(who) });

/** Nothing secret in what an operator sees: no credential value, client secret or token. */
async function expectNoSecrets(r: CliResult): Promise<void> {
  const out = r.stdout + r.stderr;
  for (const s of [stack.password, azure.secret('READER'), azure.secret('NOROLE')])
    expect(out).not.toContain(s);
  const { readFileSync } = await import('node:fs');
  expect(out).not.toContain(readFileSync(tokenFile, 'utf8').slice(20, 80));
}

describe('rotation from Azure Key Vault', () => {
  it('all three credential shapes; a new secret version rotates the namespaces; status and validate report the vault', async () => {
    const w = new Workspace();
    w.writeConfig({
      stores: { kv: { type: 'azure-key-vault', vaultUrl: azure.vaultUrl } },
      targets: [
        ['sep', { username: { key: key('user') }, password: { key: key('pass') } }],
        ['json', { json: { key: key('json') } }],
        ['dcj', { dockerconfigjson: { key: key('dcj') } }],
      ].map(([name, credentials]) => ({
        name,
        store: 'kv',
        registry: stack.registryBasic,
        credentials,
        namespaces: { names: [ns] },
      })),
      lock: { namespace: 'default', name: `az-${sfx}` },
    });
    const mi: AzureIdentity = { kind: 'imds' };
    const first = await run(w, ['--rotate-now'], mi);
    expect(first.code, first.text).toBe(0);
    expect(await managedSecrets(ns)).toHaveLength(3);
    const json = await vaultWriter().getSecret(key('json'));
    const targets = first.summary?.['targets'] as { target: string; revision: string }[];
    expect(targets.find((t) => t.target === 'json')?.revision).toBe(
      `${key('json')}@${json.properties.version!}`,
    );
    const made = await api().listNamespacedSecret({
      namespace: ns,
      labelSelector: 'regcred-rotator.io/target=json',
    });
    expect(made.items[0]?.metadata?.annotations?.['regcred-rotator.io/source-updated-at']).toBe(
      json.properties.updatedOn?.toISOString(),
    );

    await vaultWriter().setSecret(
      key('json'),
      JSON.stringify({ username: stack.user2, password: stack.password2 }),
    );
    const second = await run(w, ['--rotate-now'], mi);
    expect(second.code, second.text).toBe(0);
    expect(second.summary?.['outcomes']).toEqual({ rotated: 1, unchanged: 2 });

    const status = await run(w, ['status', '-o', 'json'], mi);
    expect(status.code, status.text).toBe(0);
    const rows = (JSON.parse(status.stdout) as { namespaces: { target: string; revision: string }[] })
      .namespaces;
    expect(rows.map((r) => r.revision).sort()).toEqual(
      [key('dcj'), key('json'), key('user')].map((k): unknown =>
        expect.stringMatching(new RegExp(`^${k}@[0-9a-f]{32}`)),
      ),
    );
    const v = await run(w, ['validate', '--online'], mi);
    expect(v.code, v.stdout + v.text).toBe(0);
    expect(v.stdout).toMatch(
      /store\s+kv\s+ok\s+authenticated as default chain: system-assigned managed identity/,
    );
    for (const t of ['sep', 'json', 'dcj']) expect(v.stdout).toMatch(new RegExp(`credentials\\s+${t}\\s+ok`));
    await expectNoSecrets(first);
  });
});

describe('identities', () => {
  it('workload identity end to end: ServiceAccount token → Entra token endpoint → vault', async () => {
    const w = new Workspace();
    config(w, { credential: 'workload-identity' });
    const before = await pullSecretsOf(ns);
    const r = await run(w, ['--rotate-now'], { kind: 'workload', tokenFile });
    expect(r.code, r.text).toBe(0);
    expect(await pullSecretsOf(ns)).not.toEqual(before);
    const log = (await azureAdmin('GET', 'requests')) as { host: string; path: string; status: number }[];
    expect(
      log.some(
        (l) =>
          l.host === 'login.microsoftonline.com' && l.path.endsWith('/oauth2/v2.0/token') && l.status === 200,
      ),
    ).toBe(true);
    await expectNoSecrets(r);
  });

  const validates: [string, Record<string, unknown>, () => AzureIdentity, RegExp][] = [
    [
      'managed identity, system-assigned (IMDS)',
      { credential: 'managed-identity' },
      () => ({ kind: 'imds' }),
      /system-assigned managed identity \(IMDS/,
    ],
    [
      'managed identity, user-assigned (IMDS, client_id)',
      { credential: 'managed-identity', managedIdentityClientId: azure.id('MI_USER') },
      () => ({ kind: 'imds' }),
      /user-assigned managed identity [0-9a-f-]{36}/,
    ],
    [
      'managed identity, App Service endpoint',
      { credential: 'managed-identity' },
      () => ({ kind: 'app-service' }),
      /App Service endpoint/,
    ],
    [
      'environment (client secret)',
      { credential: 'environment' },
      () => ({ kind: 'environment', app: 'READER' }),
      /environment credential .*client secret/,
    ],
    [
      'default → environment',
      {},
      () => ({ kind: 'environment', app: 'READER' }),
      /default chain: environment credential/,
    ],
    [
      'default → workload identity',
      {},
      () => ({ kind: 'workload', tokenFile }),
      /default chain: workload identity/,
    ],
    [
      'default → managed identity',
      {},
      () => ({ kind: 'imds' }),
      /default chain: system-assigned managed identity/,
    ],
  ];
  it.each(validates)(
    '%s: validate --online reads every secret of the target',
    async (_name, store, who, described) => {
      const w = new Workspace();
      config(w, store);
      const r = await run(w, ['validate', '--online'], who());
      expect(r.code, r.stdout + r.text).toBe(0);
      expect(r.stdout).toMatch(described);
      expect(r.stdout).toMatch(/credentials\s+az\s+ok/);
      await expectNoSecrets(r);
    },
  );

  const refused: [string, Record<string, unknown>, () => AzureIdentity, RegExp][] = [
    [
      'a wrong tenant',
      { credential: 'environment' },
      () => ({ kind: 'environment', app: 'READER', tenant: '00000000-0000-0000-0000-00000000dead' }),
      /could not get a token as environment credential \(client [0-9a-f-]{36}, tenant 00000000-0000-0000-0000-00000000dead, client secret\): The current credential is not configured to acquire tokens for tenant [0-9a-f-]{36}/,
    ],
    [
      'no role on the vault (service principal)',
      { credential: 'environment' },
      () => ({ kind: 'environment', app: 'NOROLE' }),
      /permission denied \(ForbiddenByRbac\) for environment credential \(client [0-9a-f-]{36}.*Key Vault Secrets User/,
    ],
    [
      'no role on the vault (user-assigned managed identity)',
      { credential: 'managed-identity', managedIdentityClientId: azure.id('MI_NOROLE') },
      () => ({ kind: 'imds' }),
      /permission denied \(ForbiddenByRbac\) for user-assigned managed identity/,
    ],
    [
      'an unknown federated subject',
      { credential: 'workload-identity' },
      () => ({ kind: 'workload', tokenFile: stranger }),
      /could not get a token as workload identity .*AADSTS70021: No matching federated identity record found .*Assertion Subject: 'system:serviceaccount:azwi-[0-9a-f]+:stranger'/,
    ],
  ];
  let stranger = '';
  beforeAll(async () => {
    stranger = await saToken(saNs, 'stranger');
  });
  it.each(refused)(
    '%s: exit 1, vault, secret and identity named, nothing written',
    async (_n, store, who, why) => {
      const w = new Workspace();
      config(w, store);
      const before = await snapshotNamespaces([ns]);
      const r = await run(w, ['--rotate-now'], who());
      expect(r.code, r.text).toBe(1);
      expect(r.text).toContain(`store "kv" (azure-key-vault ${azure.vaultUrl}) key "${key('json')}"`);
      expect(r.text).toMatch(why);
      expect(await snapshotNamespaces([ns])).toBe(before);
      await expectNoSecrets(r);
    },
  );

  it('a token for the wrong audience: the vault answers AKV10022, exit 1, nothing written', async () => {
    await azureAdmin('POST', 'faults', { tokenAudience: 'https://management.azure.com/' });
    const w = new Workspace();
    config(w, { credential: 'managed-identity' });
    const before = await snapshotNamespaces([ns]);
    const r = await run(w, ['--rotate-now'], { kind: 'imds' });
    expect(r.code, r.text).toBe(1);
    expect(r.text).toMatch(
      /key "[^"]+": the vault refused the token of system-assigned managed identity .*AKV10022: Invalid audience. Expected https:\/\/vault.azure.net, found: https:\/\/management.azure.com\/\./,
    );
    expect(await snapshotNamespaces([ns])).toBe(before);
  });
});

describe('secrets the vault marks unusable, and faults', () => {
  it.each([
    ['disabled', { enabled: false }, /disabled in the vault/],
    ['expired', { expiresOn: new Date(Date.now() - 3_600_000) }, /expired on/],
    ['not yet valid', { notBefore: new Date(Date.now() + 3_600_000) }, /not valid before/],
  ] as const)('a %s secret is refused: exit 1, nothing written', async (what, attrs, why) => {
    const k = key(`unusable-${what.replaceAll(' ', '-')}`);
    await vaultWriter().setSecret(
      k,
      JSON.stringify({ username: stack.user2, password: stack.password2 }),
      attrs,
    );
    const w = new Workspace();
    config(w, { credential: 'managed-identity' }, { json: { key: k } });
    const before = await snapshotNamespaces([ns]);
    const r = await run(w, ['--rotate-now'], { kind: 'imds' });
    expect(r.code, r.text).toBe(1);
    expect(r.text).toContain(`key "${k}"`);
    expect(r.text).toMatch(why);
    expect(await snapshotNamespaces([ns])).toBe(before);
  });

  it.each([429, 503])(
    'HTTP %i with Retry-After is retried after the time the vault asks for',
    async (status) => {
      await azureAdmin('DELETE', 'requests');
      await azureAdmin('POST', 'faults', { status, retryAfterSeconds: 1, times: 2 });
      const w = new Workspace();
      config(w, { credential: 'managed-identity' });
      const started = Date.now();
      const r = await run(w, ['validate', '--online'], { kind: 'imds' });
      expect(r.code, r.stdout + r.text).toBe(0);
      const log = (await azureAdmin('GET', 'requests')) as { at: string; status: number; host: string }[];
      const vault = log.filter((l) => l.host.endsWith('.vault.azure.net'));
      const faulted = vault.filter((l) => l.status === status);
      expect(faulted).toHaveLength(2);
      const gap = Date.parse(vault[vault.indexOf(faulted[1]!) + 1]!.at) - Date.parse(faulted[1]!.at);
      expect(gap).toBeGreaterThanOrEqual(900);
      expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
    },
  );

  it('disableChallengeResourceVerification: the escape hatch for a vault reached under another name', async () => {
    const w = new Workspace();
    config(w, { credential: 'managed-identity', vaultUrl: 'https://localhost' });
    const refused = await run(w, ['validate', '--online'], { kind: 'imds' });
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/challenge .*does not match .*disableChallengeResourceVerification/);
    config(w, {
      credential: 'managed-identity',
      vaultUrl: 'https://localhost',
      disableChallengeResourceVerification: true,
    });
    const ok = await run(w, ['validate', '--online'], { kind: 'imds' });
    expect(ok.code, ok.stdout + ok.text).toBe(0);
  });
});
