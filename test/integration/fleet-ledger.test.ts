/**
 * The fleet ledger against the stores clusters share: OpenBao (KV v2) and the Key Vault double. One record
 * per cluster; ten rotators acknowledging at once lose nothing; a cluster's own runs racing each other are
 * kept apart by check-and-set; forget; and why one shared record would not do.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/base/logger.ts';
import { FleetLedger } from '../../src/fleet/ledger.ts';
import { createStore } from '../../src/providers/registry.ts';
import type { SecretStore } from '../../src/providers/types.ts';
import { azure, azureAdmin, vaultWriter } from '../helpers/azure.ts';
import { baoOk, policy } from '../helpers/openbao.ts';
import { env, suffix } from '../helpers/stack.ts';

const sfx = suffix();
const ctx = { logger: silentLogger(), baseDir: '/' };
let vault: SecretStore;
let keyVault: SecretStore;

beforeAll(async () => {
  process.env['AZURE_POD_IDENTITY_AUTHORITY_HOST'] = env('REGCRED_STACK_AZURE_IMDS');
  await policy(
    `fleet-${sfx}`,
    `path "secret/data/*" { capabilities = ["read", "create", "update"] }
path "secret/metadata/*" { capabilities = ["list"] }`,
  );
  const t = await baoOk('POST', 'auth/token/create', { policies: [`fleet-${sfx}`], ttl: '1h' });
  process.env[`FLEET_TOKEN_${sfx}`] = (t['auth'] as { client_token: string }).client_token;
  vault = createStore(
    'bao',
    {
      type: 'vault',
      address: env('REGCRED_STACK_BAO_ADDR'),
      mount: 'secret',
      auth: { method: 'token', tokenEnv: `FLEET_TOKEN_${sfx}` },
      requestTimeoutSeconds: 10,
    },
    ctx,
  );
  const config = JSON.parse(readFileSync(`${env('REGCRED_STACK_RUN')}/azure/config.json`, 'utf8')) as {
    managedIdentities: { clientId: string; objectId: string }[];
  };
  await azureAdmin('POST', 'roles', {
    principalId: config.managedIdentities.find((m) => m.clientId === azure.id('MI_USER'))?.objectId,
    vault: new URL(azure.vaultUrl).hostname.split('.')[0],
    role: 'Key Vault Secrets Officer',
  });
  keyVault = createStore(
    'akv',
    {
      type: 'azure-key-vault',
      vaultUrl: azure.vaultUrl,
      credential: 'managed-identity',
      managedIdentityClientId: azure.id('MI_USER'),
      disableChallengeResourceVerification: false,
      requestTimeoutSeconds: 15,
    },
    ctx,
  );
});

const now = () => new Date();

describe.each([
  ['OpenBao', () => vault, `fleet-${sfx}/app-fleet`],
  ['Key Vault', () => keyVault, `fleet-${sfx}-app-fleet`],
])('fleet ledger on %s', (_name, store, parent) => {
  it('clusters register once; ten acknowledging at once lose no acknowledgement', async () => {
    const ledger = new FleetLedger(store(), parent);
    const clusters = Array.from({ length: 10 }, (_, i) => `c${i}`);
    await Promise.all(clusters.map((c) => ledger.register(c, now())));
    await ledger.register('c0', now()); // again: no new version
    await Promise.all(clusters.map((c) => ledger.ack(c, 'kv/app@2', now())));
    const read = await ledger.read();
    expect(read.map((r) => r.cluster).sort()).toEqual(clusters);
    expect(read.every((r) => r.revision === 'kv/app@2' && r.ackedAt instanceof Date && !r.forgotten)).toBe(
      true,
    );
  });

  it("a cluster's own runs racing each other: check-and-set lets one write at a time and none fails", async () => {
    const ledger = new FleetLedger(store(), parent);
    const revs = ['kv/app@3', 'kv/app@4', 'kv/app@5'];
    await Promise.all(revs.map((r) => ledger.ack('racer', r, now())));
    const mine = (await ledger.read()).find((r) => r.cluster === 'racer');
    expect(revs).toContain(mine?.revision);
  });

  it('forget marks a cluster that is gone; running again registers it anew', async () => {
    const ledger = new FleetLedger(store(), parent);
    await ledger.forget('c9');
    expect((await ledger.read()).find((r) => r.cluster === 'c9')?.forgotten).toBe(true);
    await expect(ledger.forget('never-there')).rejects.toThrow(/no cluster "never-there" is registered/);
    await ledger.ack('c9', 'kv/app@6', now());
    expect((await ledger.read()).find((r) => r.cluster === 'c9')).toMatchObject({
      forgotten: false,
      revision: 'kv/app@6',
    });
  });
});

describe('a record deleted by hand', () => {
  it('OpenBao (kv delete): counts as gone — the fleet reads without it — and its cluster registers anew on its next run', async () => {
    const parent = `fleet-${sfx}/deleted-fleet`;
    const ledger = new FleetLedger(vault, parent);
    await ledger.register('kept', now());
    await ledger.ack('gone', 'kv/app@2', now());
    await baoOk('DELETE', `secret/data/${parent}/gone`); // soft delete: LIST still names it
    expect((await ledger.read()).map((r) => r.cluster)).toEqual(['kept']);
    await ledger.register('gone', now());
    expect((await ledger.read()).find((r) => r.cluster === 'gone')).toMatchObject({
      revision: undefined,
      forgotten: false,
    });
  });

  it('Key Vault (soft delete): counts as gone; the name stays taken until it is recovered or purged, and registering says so', async () => {
    const parent = `fleet-${sfx}-deleted-fleet`;
    const ledger = new FleetLedger(keyVault, parent);
    await ledger.register('kept', now());
    await ledger.register('gone', now());
    await (await vaultWriter().beginDeleteSecret(`${parent}-gone`)).pollUntilDone();
    expect((await ledger.read()).map((r) => r.cluster)).toEqual(['kept']);
    await expect(ledger.register('gone', now())).rejects.toThrow(/deleted but recoverable/);
  });
});

describe('why one record per cluster', () => {
  it('ten writers updating one shared record by read-modify-write without check-and-set lose acknowledgements', async () => {
    // The design this ledger avoids, done against the real OpenBao: every writer reads the shared map and
    // writes it back with its own entry. The ledger's records are never written by two clusters.
    const path = `fleet-${sfx}/shared`;
    await baoOk('POST', `secret/data/${path}`, { data: {} });
    await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const cur = await baoOk('GET', `secret/data/${path}`);
        const data = (cur['data'] as { data: Record<string, string> }).data;
        await baoOk('POST', `secret/data/${path}`, { data: { ...data, [`c${i}`]: 'kv/app@2' } });
      }),
    );
    const after = (await baoOk('GET', `secret/data/${path}`))['data'] as { data: Record<string, string> };
    expect(Object.keys(after.data).length).toBeLessThan(10);
  });
});
