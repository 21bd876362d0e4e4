/**
 * The Vault store against the stack's real OpenBao: KV v2 versions, token / AppRole / Kubernetes auth
 * (a real ServiceAccount token reviewed by our kube-apiserver), namespaces, TLS with a custom CA,
 * permission errors and token renewal; plus the store contract.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/base/logger.ts';
import { Sensitive } from '../../src/base/sensitive.ts';
import { validateConfig } from '../../src/config/load.ts';
import { resolveCredentials } from '../../src/credentials/resolve.ts';
import { vaultStoreProvider } from '../../src/providers/vault/index.ts';
import { vaultStoreSchema, type VaultStoreConfig } from '../../src/providers/vault/schema.ts';
import { bao, baoOk, enableAuth, kvPut, policy, stackCa } from '../helpers/openbao.ts';
import {
  api,
  createNamespace,
  deleteNamespaces,
  env,
  freePort,
  kubeConfig,
  sleep,
  suffix,
} from '../helpers/stack.ts';
import { storeContract } from './store-contract.ts';

const sfx = suffix();
const dir = mkdtempSync(join(tmpdir(), 'vault-store-'));
const ctx = { logger: silentLogger(), baseDir: dir };
const address = () => env('REGCRED_STACK_BAO_ADDR');
const ns = `vault-${sfx}`;
let readerToken = '';
let writerToken = '';

const store = (over: Partial<VaultStoreConfig> & { auth?: VaultStoreConfig['auth'] }) =>
  vaultStoreProvider.create(
    'team-vault',
    vaultStoreSchema.parse({ type: 'vault', address: address(), ...over }),
    ctx,
  );

const tokenFile = (name: string, token: string) => {
  const f = join(dir, name);
  writeFileSync(f, token);
  return f;
};

beforeAll(async () => {
  await policy(`reader-${sfx}`, `path "secret/data/*" { capabilities = ["read"] }`);
  await policy(`narrow-${sfx}`, `path "secret/data/allowed-${sfx}/*" { capabilities = ["read"] }`);
  const t = await baoOk('POST', 'auth/token/create', { policies: [`reader-${sfx}`], ttl: '1h' });
  readerToken = (t['auth'] as { client_token: string }).client_token;
  await policy(`writer-${sfx}`, `path "secret/data/*" { capabilities = ["read", "create", "update"] }`);
  const w = await baoOk('POST', 'auth/token/create', { policies: [`writer-${sfx}`], ttl: '1h' });
  writerToken = (w['auth'] as { client_token: string }).client_token;
});
afterAll(() => deleteNamespaces([ns]));

storeContract('vault (OpenBao)', () => ({
  store: () =>
    store({
      auth: { method: 'token', tokenFile: tokenFile('reader', readerToken), tokenEnv: 'VAULT_TOKEN' },
    }),
  write: async (key, value) => {
    await kvPut(key, { value });
  },
  unauthenticated: () =>
    store({
      auth: { method: 'token', tokenFile: tokenFile('bogus', 's.not-a-real-token'), tokenEnv: 'VAULT_TOKEN' },
    }),
  writer: () =>
    store({
      auth: { method: 'token', tokenFile: tokenFile('writer', writerToken), tokenEnv: 'VAULT_TOKEN' },
    }),
  unreachable: () =>
    vaultStoreProvider.create(
      'team-vault',
      vaultStoreSchema.parse({
        type: 'vault',
        address: `https://127.0.0.1:${portForUnreachable}`,
        auth: { method: 'token', tokenFile: tokenFile('any', readerToken) },
      }),
      ctx,
    ),
}));
let portForUnreachable = 0;
beforeAll(async () => {
  portForUnreachable = await freePort();
});

describe('OpenBao KV v2', () => {
  it('keeps versions: a versioned read returns the old data; the store reads the current one with its version', async () => {
    const path = `kv-${sfx}/creds`;
    expect(await kvPut(path, { username: 'u', password: 'one' })).toBe(1);
    expect(await kvPut(path, { username: 'u', password: 'two' })).toBe(2);
    const v1 = await baoOk('GET', `secret/data/${path}?version=1`);
    expect((v1['data'] as { data: Record<string, string> }).data['password']).toBe('one');
    const s = store({
      auth: { method: 'token', tokenFile: tokenFile('r2', readerToken), tokenEnv: 'VAULT_TOKEN' },
    });
    const cur = await s.get(`${path}#password`);
    expect(cur.value.reveal()).toBe('two');
    expect(cur.version).toBe(`secret/${path}@2`);
    // Without a field, a multi-field secret is its data as JSON (the `json` credentials shape).
    expect(JSON.parse((await s.get(path)).value.reveal())).toEqual({ username: 'u', password: 'two' });
    await expect(s.get(`${path}#nope`)).rejects.toThrow(
      /has no field "nope" \(fields: (username, password|password, username)\)/,
    );
  });

  it('a deleted current version is not found', async () => {
    const path = `kv-${sfx}/deleted`;
    await kvPut(path, { value: 'x' });
    await baoOk('DELETE', `secret/data/${path}`);
    const s = store({
      auth: { method: 'token', tokenFile: tokenFile('r3', readerToken), tokenEnv: 'VAULT_TOKEN' },
    });
    await expect(s.get(path)).rejects.toMatchObject({ code: 'STORE_NOT_FOUND' });
  });

  it('a token without read on the path gives a clear "permission denied for <path>"', async () => {
    await kvPut(`denied-${sfx}/x`, { value: 'v' });
    const t = await baoOk('POST', 'auth/token/create', { policies: [`narrow-${sfx}`], ttl: '10m' });
    const s = store({
      auth: {
        method: 'token',
        tokenFile: tokenFile('narrow', (t['auth'] as { client_token: string }).client_token),
        tokenEnv: 'VAULT_TOKEN',
      },
    });
    const err = await s.get(`denied-${sfx}/x`).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'STORE_PERMISSION' });
    expect((err as Error).message).toMatch(new RegExp(`permission denied for secret/data/denied-${sfx}/x`));
  });
});

describe('OpenBao AppRole', () => {
  let roleId = '';
  let secretIdFile = '';
  const approleStore = (sidFile: string) =>
    store({
      auth: {
        method: 'approle',
        mount: `approle-${sfx}`,
        roleId,
        secretIdFile: sidFile,
        secretIdEnv: 'VAULT_SECRET_ID',
      },
    });
  beforeAll(async () => {
    await enableAuth(`approle-${sfx}`, 'approle');
    await baoOk('POST', `auth/approle-${sfx}/role/rotator`, {
      token_policies: [`reader-${sfx}`],
      token_ttl: '3s',
      token_max_ttl: '2m',
    });
    roleId = ((await baoOk('GET', `auth/approle-${sfx}/role/rotator/role-id`))['data'] as { role_id: string })
      .role_id;
    const sid = (
      (await baoOk('POST', `auth/approle-${sfx}/role/rotator/secret-id`, {}))['data'] as { secret_id: string }
    ).secret_id;
    secretIdFile = tokenFile('secret-id', sid);
    await kvPut(`approle-${sfx}/pw`, { value: 'from-approle' });
  });

  it('logs in (raw API) and the store reads with the AppRole token', async () => {
    const raw = await bao('POST', `auth/approle-${sfx}/login`, { role_id: roleId, secret_id: 'wrong' }, null);
    expect(raw.status).toBe(400);
    const s = approleStore(secretIdFile);
    expect((await s.get(`approle-${sfx}/pw`)).value.reveal()).toBe('from-approle');
    expect(await s.check()).toMatch(/authenticated \(token ttl \d+s, renewable\)/);
  });

  it('a 3-second token TTL is renewed (or re-logged in) across a run three times longer', async () => {
    const s = approleStore(secretIdFile);
    const started = Date.now();
    let reads = 0;
    while (Date.now() - started < 9000) {
      expect((await s.get(`approle-${sfx}/pw`)).value.reveal()).toBe('from-approle');
      reads++;
      await sleep(700);
    }
    expect(reads).toBeGreaterThanOrEqual(10);
  });

  it('a wrong secret id is an auth failure that names the role, not the secret', async () => {
    const s = approleStore(tokenFile('bad-sid', 'not-a-secret-id-value'));
    const err = await s.get(`approle-${sfx}/pw`).then(
      () => new Error('expected a failure'),
      (e: unknown) => e as Error,
    );
    expect(err).toMatchObject({ code: 'STORE_AUTH' });
    expect(err.message).toMatch(/AppRole login/);
    expect(err.message).not.toContain('not-a-secret-id-value');
  });
});

describe('OpenBao Kubernetes auth (TokenReview by our kube-apiserver)', () => {
  let jwtFile = '';
  beforeAll(async () => {
    await createNamespace(ns);
    for (const name of ['token-reviewer', 'regcred-rotator'])
      await api().createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name } } });
    await kubeConfig()
      .makeApiClient(RbacAuthorizationV1Api)
      .createClusterRoleBinding({
        body: {
          metadata: { name: `vault-reviewer-${sfx}` },
          roleRef: {
            apiGroup: 'rbac.authorization.k8s.io',
            kind: 'ClusterRole',
            name: 'system:auth-delegator',
          },
          subjects: [{ kind: 'ServiceAccount', name: 'token-reviewer', namespace: ns }],
        },
      });
    const token = async (name: string) =>
      (
        await api().createNamespacedServiceAccountToken({
          namespace: ns,
          name,
          body: { spec: { expirationSeconds: 3600 } },
        })
      ).status?.token ?? '';
    await enableAuth(`kubernetes-${sfx}`, 'kubernetes');
    await baoOk('POST', `auth/kubernetes-${sfx}/config`, {
      kubernetes_host: env('REGCRED_STACK_APISERVER'),
      kubernetes_ca_cert: stackCa(),
      token_reviewer_jwt: await token('token-reviewer'),
      disable_local_ca_jwt: true,
    });
    await baoOk('POST', `auth/kubernetes-${sfx}/role/rotator`, {
      bound_service_account_names: ['regcred-rotator'],
      bound_service_account_namespaces: [ns],
      token_policies: [`reader-${sfx}`],
      token_ttl: '60s',
    });
    jwtFile = tokenFile('sa-token', await token('regcred-rotator'));
    await kvPut(`k8s-${sfx}/pw`, { value: 'from-kubernetes-auth' });
  });

  it('logs in with a TokenRequest token of the ServiceAccount and reads', async () => {
    const s = store({
      auth: { method: 'kubernetes', mount: `kubernetes-${sfx}`, role: 'rotator', tokenFile: jwtFile },
    });
    expect((await s.get(`k8s-${sfx}/pw`)).value.reveal()).toBe('from-kubernetes-auth');
  });

  it('a token of another ServiceAccount is refused by the role', async () => {
    const other =
      (
        await api().createNamespacedServiceAccountToken({
          namespace: ns,
          name: 'token-reviewer',
          body: { spec: { expirationSeconds: 600 } },
        })
      ).status?.token ?? '';
    const s = store({
      auth: {
        method: 'kubernetes',
        mount: `kubernetes-${sfx}`,
        role: 'rotator',
        tokenFile: tokenFile('other-sa', other),
      },
    });
    await expect(s.get(`k8s-${sfx}/pw`)).rejects.toMatchObject({ code: 'STORE_AUTH' });
  });
});

describe('OpenBao namespaces and TLS', () => {
  it('reads through the X-Vault-Namespace header', async () => {
    const name = `team-${sfx}`;
    await baoOk('POST', `sys/namespaces/${name}`, {});
    const inNs = async (method: string, path: string, body?: unknown) => {
      const r = await fetch(`${address()}/v1/${path}`, {
        method,
        headers: { 'x-vault-token': 'root', 'x-vault-namespace': name, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      if (r.status >= 300) throw new Error(`${path}: ${r.status} ${await r.text()}`);
    };
    await inNs('POST', 'sys/mounts/secret', { type: 'kv', options: { version: '2' } });
    await inNs('POST', 'secret/data/ns-only', { data: { value: 'inside-namespace' } });
    const s = store({
      namespace: name,
      auth: { method: 'token', tokenFile: tokenFile('root', 'root'), tokenEnv: 'VAULT_TOKEN' },
    });
    expect((await s.get('ns-only')).value.reveal()).toBe('inside-namespace');
    const outside = store({
      auth: { method: 'token', tokenFile: tokenFile('root2', 'root'), tokenEnv: 'VAULT_TOKEN' },
    });
    await expect(outside.get('ns-only')).rejects.toMatchObject({ code: 'STORE_NOT_FOUND' });
  });

  it('caFile replaces the trusted roots: our CA works, another CA fails with a TLS error', async () => {
    await kvPut(`tls-${sfx}`, { value: 'tls-ok' });
    const good = store({
      caFile: env('REGCRED_STACK_CA'),
      auth: { method: 'token', tokenFile: tokenFile('r4', readerToken), tokenEnv: 'VAULT_TOKEN' },
    });
    expect((await good.get(`tls-${sfx}`)).value.reveal()).toBe('tls-ok');
    const otherCa = join(dir, 'other-ca.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        join(dir, 'k.pem'),
        '-out',
        otherCa,
        '-days',
        '1',
        '-subj',
        '/CN=other',
      ],
      { stdio: 'ignore' },
    );
    const bad = store({
      caFile: otherCa,
      auth: { method: 'token', tokenFile: tokenFile('r5', readerToken), tokenEnv: 'VAULT_TOKEN' },
    });
    const err = await bad.get(`tls-${sfx}`).then(
      () => new Error('expected a failure'),
      (e: unknown) => e as Error,
    );
    expect(err).toMatchObject({ code: 'STORE_UNREACHABLE' });
    expect(err.message).toMatch(/TLS/);
  });
});

describe('Vault writes in the shapes an issuer uses', () => {
  const writer = () =>
    store({
      auth: { method: 'token', tokenFile: tokenFile('writer2', writerToken), tokenEnv: 'VAULT_TOKEN' },
    });
  const meta = { 'regcred-credential-id': 'tok-1', 'regcred-issued-at': '2026-12-07T10:00:00.000Z' };

  it('`path#field`: the field gets the JSON object, the other fields of the secret stay, meta stays out of the value', async () => {
    const path = `issued-${sfx}/field`;
    await kvPut(path, { note: 'kept', creds: 'old' });
    const w = writer();
    const before = await w.get(`${path}#creds`);
    const v = await w.put!(
      `${path}#creds`,
      { fields: { username: 'u1', password: new Sensitive('Pw-field-1') }, meta },
      before.revision,
    );
    expect(JSON.parse(v.value.reveal())).toEqual({ username: 'u1', password: 'Pw-field-1' });
    expect(v.meta).toEqual(meta);
    expect((await w.get(`${path}#note`)).value.reveal()).toBe('kept');
    // The whole secret read as JSON (the `json` shape on `path`) never carries the meta fields.
    expect(Object.keys(JSON.parse((await w.get(path)).value.reveal()) as object).sort()).toEqual([
      'creds',
      'note',
    ]);
  });

  it('username and password as two fields of one secret: one version, read by the username + password shape', async () => {
    const path = `issued-${sfx}/pair`;
    const w = writer();
    const v = await w.put!(
      path,
      { fields: { user: 'robot-b', pass: new Sensitive('Pw-pair-2') }, meta },
      null,
    );
    const target = validateConfig(
      {
        stores: { v: { type: 'vault', address: address() } },
        targets: [
          {
            name: 't',
            store: 'v',
            registry: 'r.example.com',
            credentials: { username: { key: `${path}#user` }, password: { key: `${path}#pass` } },
            namespaces: { names: ['n'] },
          },
        ],
      },
      't.yaml',
    ).targets[0]!;
    const r = await resolveCredentials(target, w, new Map());
    expect(r.creds[0]).toMatchObject({ username: 'robot-b' });
    expect(r.creds[0]?.password.reveal()).toBe('Pw-pair-2');
    expect(r.meta).toEqual(meta);
    expect(r.version).toBe(v.version);
  });
});
