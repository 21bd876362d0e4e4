/**
 * Store and registry faults: OpenBao sealed, OpenBao stopped, Key Vault answering 503 and stopped, the
 * registry down. Each stops its target before any write — nothing half-written — with a clear message and
 * exit 1; the run recovers once the fault is gone.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { azure, azureAdmin, azureEnv, vaultWriter } from '../helpers/azure.ts';
import { bao, kvPut } from '../helpers/openbao.ts';
import { Workspace } from '../helpers/rotator.ts';
import {
  api,
  createNamespace,
  deleteNamespaces,
  env,
  freePort,
  managedSecrets,
  snapshotNamespaces,
  stack,
  suffix,
  waitFor,
} from '../helpers/stack.ts';

const sfx = suffix();
const ns = `sf-${sfx}`;
const outcomes: string[] = [];
beforeAll(() => createNamespace(ns));
afterAll(async () => {
  console.log(`[reliability] store/registry faults: ${outcomes.join('; ')}`);
  await deleteNamespaces([ns]);
});

function config(w: Workspace, store: Record<string, unknown>, registry = stack.registryBasic) {
  w.writeConfig({
    stores: { s: store },
    targets: [
      {
        name: 'sf',
        store: 's',
        registry,
        credentials: { json: { key: `sf-${sfx}` } },
        namespaces: { names: [ns] },
      },
    ],
    lock: { namespace: 'default', name: `sf-${sfx}` },
  });
}

describe('OpenBao', () => {
  it('sealed: the target stops before any write ("sealed"), and runs once unsealed', async () => {
    await kvPut(`sf-${sfx}`, { username: stack.user, password: stack.password });
    const w = new Workspace();
    config(w, {
      type: 'vault',
      address: env('REGCRED_STACK_BAO_ADDR'),
      auth: { method: 'token', tokenEnv: 'SF_TOKEN' },
    });
    const before = await snapshotNamespaces([ns]);
    expect((await bao('PUT', 'sys/seal')).status).toBe(204);
    try {
      const r = await w.rotate([], { SF_TOKEN: 'root' });
      expect(r.code).toBe(1);
      expect(r.text).toMatch(/the server is sealed; unseal it and run again/);
      expect(await snapshotNamespaces([ns])).toBe(before);
      outcomes.push('OpenBao sealed: exit 1, nothing written');
    } finally {
      const key =
        /Unseal Key: (\S+)/.exec(readFileSync(join(stack.run, 'logs/openbao.log'), 'latin1'))?.[1] ?? '';
      expect((await bao('PUT', 'sys/unseal', { key }, null)).status).toBe(200);
    }
    const ok = await w.rotate([], { SF_TOKEN: 'root' });
    expect(ok.code, ok.text).toBe(0);
    expect(await managedSecrets(ns)).toHaveLength(1);
  });

  it('stopped: unreachable, nothing written', async () => {
    const port = await freePort();
    const binary = env('REGCRED_STACK_BAO');
    const child = spawn(
      binary,
      ['server', '-dev', '-dev-root-token-id=root', `-dev-listen-address=127.0.0.1:${port}`],
      { stdio: 'ignore', env: { ...process.env, HOME: new Workspace().dir } },
    );
    const addr = `http://127.0.0.1:${port}`;
    await waitFor(
      'a second OpenBao',
      async () => ((await fetch(`${addr}/v1/sys/health`)).ok ? true : undefined),
      30_000,
    );
    await fetch(`${addr}/v1/secret/data/sf-${sfx}`, {
      method: 'POST',
      headers: { 'x-vault-token': 'root' },
      body: JSON.stringify({ data: { username: stack.user2, password: stack.password2 } }),
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    const w = new Workspace();
    config(w, { type: 'vault', address: addr, auth: { method: 'token', tokenEnv: 'SF_TOKEN' } });
    const before = await snapshotNamespaces([ns]);
    const r = await w.rotate([], { SF_TOKEN: 'root' });
    expect(r.code).toBe(1);
    expect(r.text).toMatch(/connection to 127\.0\.0\.1:\d+ refused \(is it running\?\)/);
    expect(await snapshotNamespaces([ns])).toBe(before);
    outcomes.push('OpenBao stopped: exit 1, nothing written');
  });
});

describe('registry', () => {
  it('down: the rollout stops before any write', async () => {
    const w = new Workspace();
    w.cred(`sf-${sfx}`, JSON.stringify({ username: stack.user2, password: stack.password2 }));
    config(w, { type: 'file', path: w.creds }, `127.0.0.1:${await freePort()}`);
    const before = await snapshotNamespaces([ns]);
    const r = await w.rotate();
    expect(r.code).toBe(1);
    expect(r.text).toMatch(/is unreachable .*no namespace was touched/);
    expect(await snapshotNamespaces([ns])).toBe(before);
    outcomes.push('registry down: exit 1, nothing written');
  });
});

describe('Azure Key Vault', () => {
  const mi = () => azureEnv({ kind: 'imds' });
  const kvConfig = async (w: Workspace) => {
    await vaultWriter().setSecret(
      `sf-${sfx}`,
      JSON.stringify({ username: stack.user, password: stack.password }),
    );
    config(w, { type: 'azure-key-vault', vaultUrl: azure.vaultUrl, credential: 'managed-identity' });
  };

  it('503 on every attempt: exit 1 after the SDK retries, nothing written; runs once the vault recovers', async () => {
    const w = new Workspace();
    await kvConfig(w);
    await api().deleteCollectionNamespacedSecret({
      namespace: ns,
      labelSelector: 'regcred-rotator.io/target=sf',
    });
    const before = await snapshotNamespaces([ns]);
    await azureAdmin('POST', 'faults', { status: 503, retryAfterSeconds: 1, times: 1000 });
    try {
      const r = await w.rotate([], mi());
      expect(r.code).toBe(1);
      expect(r.text).toMatch(
        /store "s" \(azure-key-vault https:\/\/[a-z-]+\.vault\.azure\.net\) key "sf-[0-9a-f]+": the vault answered HTTP 503/,
      );
      expect(await snapshotNamespaces([ns])).toBe(before);
      outcomes.push('Key Vault 503: exit 1, nothing written');
    } finally {
      await azureAdmin('DELETE', 'faults');
    }
    const ok = await w.rotate([], mi());
    expect(ok.code, ok.text).toBe(0);
  });

  it('stopped: unreachable, nothing written', async () => {
    const w = new Workspace();
    await kvConfig(w);
    await vaultWriter().setSecret(
      `sf-${sfx}`,
      JSON.stringify({ username: stack.user2, password: stack.password2 }),
    );
    const before = await snapshotNamespaces([ns]);
    await azureAdmin('POST', 'faults', { stopped: true });
    try {
      const r = await w.rotate([], mi());
      expect(r.code).toBe(1);
      expect(r.text).toMatch(/key "sf-[0-9a-f]+": cannot reach the vault/);
      expect(await snapshotNamespaces([ns])).toBe(before);
      outcomes.push('Key Vault stopped: exit 1, nothing written');
    } finally {
      await azureAdmin('DELETE', 'faults');
    }
  });
});
