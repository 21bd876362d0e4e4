/**
 * HTTPS_PROXY / HTTP_PROXY / NO_PROXY: every outgoing connection of a run — the Kubernetes API, a Vault store,
 * the registry check and its token service, the Pushgateway, and the Azure SDK's own pipeline (Entra and Key
 * Vault) — goes through a real forward proxy (CONNECT tunnels, absolute-form HTTP), NO_PROXY takes hosts out,
 * and a proxy that refuses or is down is named as the cause, not the server behind it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { azure, azureEnv, vaultWriter } from '../helpers/azure.ts';
import { ConnectProxy } from '../helpers/connect-proxy.ts';
import { kvPut } from '../helpers/openbao.ts';
import { runCli, Workspace, type EnvOverrides } from '../helpers/rotator.ts';
import {
  deleteNamespaces,
  createNamespace,
  env,
  freePort,
  managedSecrets,
  pullSecretsOf,
  stack,
  suffix,
} from '../helpers/stack.ts';

const sfx = suffix();
const ns = `px-${sfx}`;
const STACK = env('REGCRED_STACK_IP');
const api = new URL(env('REGCRED_STACK_APISERVER')).host;
const bao = new URL(env('REGCRED_STACK_BAO_ADDR')).host;
const tokenServer = new URL(env('REGCRED_STACK_TOKEN_SERVER')).host;
const pushgateway = env('REGCRED_STACK_PUSHGATEWAY');
const proxy = new ConnectProxy();
let proxyUrl = '';

/** Only the proxy variables given (the machine's own, lower-case ones included, are cleared). */
const proxied = (vars: Record<string, string>): EnvOverrides => ({
  HTTPS_PROXY: undefined,
  HTTP_PROXY: undefined,
  NO_PROXY: undefined,
  https_proxy: undefined,
  http_proxy: undefined,
  no_proxy: undefined,
  NODE_USE_ENV_PROXY: undefined,
  BAO_TOKEN_PX: 'root',
  ...vars,
});

function config(w: Workspace, registry = stack.registryBearer): string {
  return w.writeConfig({
    stores: {
      bao: {
        type: 'vault',
        address: env('REGCRED_STACK_BAO_ADDR'),
        auth: { method: 'token', tokenEnv: 'BAO_TOKEN_PX' },
      },
    },
    targets: [
      {
        name: 'px',
        store: 'bao',
        registry,
        credentials: { json: { key: `regcred/px-${sfx}` } },
        secretName: `px-${sfx}`,
        namespaces: { names: [ns] },
      },
    ],
    metrics: { pushgateway, job: `px-${sfx}` },
    lock: { namespace: ns, name: 'px' },
  });
}

beforeAll(async () => {
  await createNamespace(ns);
  await kvPut(`regcred/px-${sfx}`, { username: stack.user, password: stack.password });
  proxyUrl = await proxy.listen();
});
afterAll(async () => {
  await proxy.close();
  await deleteNamespaces([ns]);
});

describe('through a CONNECT proxy', () => {
  it('sends the API server, the store, the registry, its token service and the Pushgateway through it', async () => {
    const w = new Workspace();
    config(w);
    proxy.log.length = 0;
    const r = await w.rotate([], proxied({ HTTPS_PROXY: proxyUrl, HTTP_PROXY: proxyUrl }));
    expect(r.code, r.text).toBe(0);
    expect((await pullSecretsOf(ns)).some((n) => n.startsWith(`px-${sfx}-`))).toBe(true);
    expect(proxy.tunnels()).toEqual(expect.arrayContaining([api, bao, stack.registryBearer, tokenServer]));
    // Plain HTTP goes as an absolute-form request through HTTP_PROXY.
    expect(proxy.log).toContain(`POST ${pushgateway}/metrics/job/px-${sfx}`);
  });

  it('goes direct to what NO_PROXY lists (here: every stack address, by CIDR)', async () => {
    const w = new Workspace();
    config(w);
    proxy.log.length = 0;
    const r = await w.rotate(
      [],
      proxied({
        HTTPS_PROXY: proxyUrl,
        HTTP_PROXY: proxyUrl,
        NO_PROXY: `${STACK.split('.').slice(0, 2).join('.')}.0.0/16`,
      }),
    );
    expect(r.code, r.text).toBe(0);
    expect(proxy.log).toEqual([]);
  });

  it('takes the Azure SDK (Entra token, Key Vault) through it too', async () => {
    await vaultWriter().setSecret(
      `px-${sfx}`,
      JSON.stringify({ username: stack.user, password: stack.password }),
    );
    const w = new Workspace();
    w.writeConfig({
      stores: { kv: { type: 'azure-key-vault', vaultUrl: azure.vaultUrl, credential: 'environment' } },
      targets: [
        {
          name: 'pxaz',
          store: 'kv',
          registry: stack.registryBasic,
          credentials: { json: { key: `px-${sfx}` } },
          namespaces: { names: [ns] },
        },
      ],
    });
    proxy.log.length = 0;
    const r = await runCli(['--config', w.config, 'validate', '--online'], {
      env: { ...azureEnv({ kind: 'environment', app: 'READER' }), ...proxied({ HTTPS_PROXY: proxyUrl }) },
    });
    expect(r.code, r.text + r.stdout).toBe(0);
    expect(proxy.tunnels()).toEqual(
      expect.arrayContaining([
        'login.microsoftonline.com:443',
        `${new URL(azure.vaultUrl).host}:443`,
        stack.registryBasic,
      ]),
    );
  });
});

describe('a proxy that refuses, or is not there', () => {
  it('refusing the registry: the run names the proxy, and touches no namespace', async () => {
    const w = new Workspace();
    config(w, stack.registryBasic);
    const before = await managedSecrets(ns);
    proxy.refuse = new Set([stack.registryBasic]);
    try {
      const r = await w.rotate([], proxied({ HTTPS_PROXY: proxyUrl }));
      expect(r.code).toBe(1);
      expect(r.text).toContain(
        `the proxy ${proxyUrl} refused to open a tunnel to ${stack.registryBasic} (403 Forbidden): the target was not contacted`,
      );
      expect(r.text).toMatch(/no namespace was touched/);
      expect(await managedSecrets(ns)).toEqual(before);
    } finally {
      proxy.refuse = new Set();
    }
  });

  it('refusing the API server: the message names the proxy, not the API server', async () => {
    const w = new Workspace();
    config(w);
    proxy.refuse = new Set([api]);
    try {
      const r = await runCli(['--config', w.config, 'status'], { env: proxied({ HTTPS_PROXY: proxyUrl }) });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`the proxy ${proxyUrl} refused to open a tunnel to ${api} (403 Forbidden)`);
      expect(r.stderr).not.toMatch(/cannot reach the API server/);
    } finally {
      proxy.refuse = new Set();
    }
  });

  it('not running: the message says the proxy refused the connection', async () => {
    const w = new Workspace();
    config(w);
    const down = `http://127.0.0.1:${await freePort()}`;
    const r = await runCli(['--config', w.config, 'status', '--request-timeout', '5'], {
      env: proxied({ HTTPS_PROXY: down }),
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`the proxy ${down} (for ${api}) refused the connection`);
  });
});
