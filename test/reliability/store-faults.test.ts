/**
 * Store and registry faults: OpenBao sealed, OpenBao stopped, the registry down. Each stops its target
 * before any write — nothing half-written — with a clear message and exit 1; the run recovers once the
 * fault is gone. (Key Vault 5xx needs the lowkey-vault emulator, which is not available here.)
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bao, kvPut } from '../helpers/openbao.ts';
import { Workspace } from '../helpers/rotator.ts';
import {
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
  it('5xx from the vault stops the target before any write', (t) => {
    t.skip('needs the lowkey-vault emulator, whose jar is not on Maven Central (README, "Known gaps")');
  });
});
