/**
 * `npm run bench:fleet`: what a fleet costs its secret manager, for 1, 10, 100 and 1,000 clusters
 * (FLEET_SIZES), against the stack's real OpenBao and its Key Vault double. Each simulated cluster does
 * what its rotator does in a run, through the real code (src/fleet/ledger.ts over the real store
 * providers): register (first run: read its record, write it; later runs: read it), acknowledge a new
 * revision (read, write with check-and-set); the issuing cluster reads the whole ledger and evaluates the
 * gate. Requests are counted at the store: OpenBao through a counting proxy (test/helpers/store-proxy.ts),
 * the Key Vault double by its request log. Writes bench/results/fleet-<timestamp>.json and prints the
 * table for bench/README.md.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { azure, azureAdmin } from '../test/helpers/azure.ts';
import { StoreProxy } from '../test/helpers/store-proxy.ts';
import { baoOk } from '../test/helpers/openbao.ts';
import { env, suffix } from '../test/helpers/stack.ts';
import { silentLogger } from '../src/base/logger.ts';
import { pool } from '../src/base/pool.ts';
import { FleetLedger } from '../src/fleet/ledger.ts';
import { fleetGate } from '../src/fleet/gate.ts';
import { createStore } from '../src/providers/registry.ts';
import type { SecretStore } from '../src/providers/types.ts';

const SIZES = (process.env['FLEET_SIZES'] ?? '1,10,100,1000').split(',').map(Number);
/** Clusters acknowledging at the same moment (their CronJobs share a schedule). */
const CONCURRENCY = Number(process.env['FLEET_CONCURRENCY'] ?? '16');
const BATCH = 200;
const ROOT = resolve(import.meta.dirname, '..');
const id = suffix();
const ctx = { logger: silentLogger(), baseDir: '/' };

interface Counted {
  requests: number;
  /** By what they were: `get data`, `post data`, `list metadata`, `GET /secrets/{name}`, … */
  by: Record<string, number>;
  ms: number;
}

/** One store as the bench drives it: the provider, and how its requests are counted. */
interface Backend {
  name: string;
  store: SecretStore;
  parent: (n: number) => string;
  count: <T>(fn: () => Promise<T>) => Promise<Counted & { value: T }>;
  /** Removes the records of size `n` (not counted). */
  clean: (n: number, clusters: string[]) => Promise<void>;
  /** Secrets a listing pages through besides the ledger's (Key Vault lists the whole vault). */
  others?: () => Promise<number>;
}

async function openBao(): Promise<Backend & { close: () => Promise<void> }> {
  const proxy = new StoreProxy();
  const address = await proxy.listen();
  process.env['FLEET_BENCH_TOKEN'] = 'root';
  const store = createStore(
    'bao',
    {
      type: 'vault',
      address,
      mount: 'secret',
      auth: { method: 'token', tokenEnv: 'FLEET_BENCH_TOKEN' },
      requestTimeoutSeconds: 30,
    },
    ctx,
  );
  return {
    name: 'OpenBao',
    store,
    parent: (n) => `bench-fleet-${id}/n${n}/app-fleet`,
    count: async (fn) => {
      proxy.reset();
      const t = performance.now();
      const value = await fn();
      return {
        value,
        ms: performance.now() - t,
        requests: proxy.total(),
        by: Object.fromEntries(proxy.counts),
      };
    },
    clean: async (n, clusters) => {
      await pool(clusters, 16, undefined, async (c) => {
        await baoOk('DELETE', `secret/metadata/bench-fleet-${id}/n${n}/app-fleet/${c}`);
      });
    },
    close: () => proxy.close(),
  };
}

interface LogEntry {
  at: string;
  host: string;
  method: string;
  path: string;
}

async function keyVault(): Promise<Backend> {
  process.env['AZURE_POD_IDENTITY_AUTHORITY_HOST'] = env('REGCRED_STACK_AZURE_IMDS');
  const config = JSON.parse(readFileSync(`${env('REGCRED_STACK_RUN')}/azure/config.json`, 'utf8')) as {
    managedIdentities: { clientId: string; objectId: string }[];
  };
  const vaultName = new URL(azure.vaultUrl).hostname.split('.')[0];
  await azureAdmin('POST', 'roles', {
    principalId: config.managedIdentities.find((m) => m.clientId === azure.id('MI_USER'))?.objectId,
    vault: vaultName,
    role: 'Key Vault Secrets Officer',
  });
  const store = createStore(
    'akv',
    {
      type: 'azure-key-vault',
      vaultUrl: azure.vaultUrl,
      credential: 'managed-identity',
      managedIdentityClientId: azure.id('MI_USER'),
      disableChallengeResourceVerification: false,
      requestTimeoutSeconds: 30,
    },
    ctx,
  );
  const log = async () => (await azureAdmin('GET', 'requests')) as LogEntry[];
  const prefix = (n: number) => `bench-fleet-${id}-n${n}-app-fleet-`;
  // The double's log holds every test's requests: only the vault's, on our records or the listing, count.
  const ours = (e: LogEntry) =>
    e.host.startsWith(`${vaultName}.`) &&
    (e.path === '/secrets' || e.path.startsWith(`/secrets/bench-fleet-${id}-`));
  return {
    name: 'Key Vault (double)',
    store,
    parent: (n) => `bench-fleet-${id}-n${n}-app-fleet`,
    count: async (fn) => {
      // The log keeps its last 2,000 requests: a window is found by time, and must still be all there.
      const from = new Date().toISOString();
      const t = performance.now();
      const value = await fn();
      const ms = performance.now() - t;
      const to = new Date().toISOString();
      const all = await log();
      if (all.length >= 2000 && (all[0]?.at ?? '') >= from)
        throw new Error("the double's request log no longer holds the whole window: use smaller batches");
      const seen = all.filter((e) => e.at >= from && e.at <= to && ours(e));
      const by: Record<string, number> = {};
      for (const e of seen) {
        const k = `${e.method} ${e.path === '/secrets' ? '/secrets (a list page)' : '/secrets/{record}'}`;
        by[k] = (by[k] ?? 0) + 1;
      }
      return { value, ms, requests: seen.length, by };
    },
    clean: async (n, clusters) => {
      const w = (await import('../test/helpers/azure.ts')).vaultWriter();
      await pool(clusters, 16, undefined, async (c) => {
        await (await w.beginDeleteSecret(`${prefix(n)}${c}`)).pollUntilDone();
      });
    },
    others: async () => {
      let total = 0;
      for await (const _ of (await import('../test/helpers/azure.ts'))
        .vaultWriter()
        .listPropertiesOfSecrets())
        total++;
      return total;
    },
  };
}

interface Row {
  store: string;
  clusters: number;
  /** Secrets the vault's listing pages through (Key Vault: every secret of the vault). */
  listed?: number;
  register: Counted;
  ack: Counted;
  /** A later run's registration check (nothing to write). */
  recheck: Counted;
  /** The issuing cluster's read of the ledger and the gate. */
  gate: Counted & { open: boolean; read: number };
}

async function measure(b: Backend, n: number): Promise<Row> {
  const ledger = new FleetLedger(b.store, b.parent(n));
  const clusters = Array.from({ length: n }, (_, i) => `c${String(i).padStart(4, '0')}`);
  const now = () => new Date();
  // Every cluster once, counted in batches: the double's request log keeps its last 2,000 requests only.
  const each = async (fn: (c: string) => Promise<unknown>): Promise<Counted> => {
    const sum: Counted = { requests: 0, by: {}, ms: 0 };
    for (let i = 0; i < clusters.length; i += BATCH) {
      const c = await b.count(() =>
        pool(clusters.slice(i, i + BATCH), CONCURRENCY, undefined, async (x) => {
          await fn(x);
        }),
      );
      sum.requests += c.requests;
      sum.ms += c.ms;
      for (const [k, v] of Object.entries(c.by)) sum.by[k] = (sum.by[k] ?? 0) + v;
    }
    return sum;
  };
  const register = await each((c) => ledger.register(c, now()));
  const ack = await each((c) => ledger.ack(c, 'rev-2', now()));
  const recheck = await each((c) => ledger.register(c, now()));
  // The gate: best of three reads (the first may pay for a login or a cold connection).
  const gates: (Counted & { value: { open: boolean; read: number } })[] = [];
  for (let i = 0; i < 3; i++)
    gates.push(
      await b.count(async () => {
        const records = await ledger.read();
        const g = fleetGate({
          records,
          revision: 'rev-2',
          since: now(),
          now: now(),
          deadlineMs: 86_400_000,
          force: [],
        });
        return { open: g.open, read: records.length };
      }),
    );
  const best = gates.reduce((x, y) => (y.ms < x.ms ? y : x));
  const listed = b.others ? await b.others() : undefined;
  await b.clean(n, clusters);
  const { value, ...gate } = best;
  return {
    store: b.name,
    clusters: n,
    ...(listed === undefined ? {} : { listed }),
    register,
    ack,
    recheck,
    gate: { ...gate, ...value },
  };
}

const rows: Row[] = [];
const bao = await openBao();
const kv = await keyVault();
try {
  for (const b of [bao, kv])
    for (const n of SIZES) {
      const r = await measure(b, n);
      if (!r.gate.open || r.gate.read !== n)
        throw new Error(`${b.name} N=${n}: the gate read ${r.gate.read} records`);
      rows.push(r);
      process.stderr.write(`${b.name} N=${n}: ${JSON.stringify(r)}\n`);
    }
} finally {
  await bao.close();
  await bao.store.close();
  await kv.store.close();
}

const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], {
  cwd: ROOT,
  encoding: 'utf8',
}).stdout.trim();
const results = {
  date: new Date().toISOString(),
  machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`,
  concurrency: CONCURRENCY,
  commit,
  rows,
};
mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
const file = join(ROOT, `bench/results/fleet-${results.date.replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify(results, null, 2));

const ms = (x: number) => (x < 1000 ? `${Math.round(x)} ms` : `${(x / 1000).toFixed(1)} s`);
const per = (c: Counted, n: number) =>
  `${c.requests} (${Math.round((c.requests / n) * 10) / 10}/cluster), ${ms(c.ms)}`;
process.stdout.write(
  [
    `${results.machine}; ${results.date}; ${CONCURRENCY} clusters at once; ${file}`,
    '',
    '| store | clusters | first run: register | new revision: acknowledge | later run: registration check | issuing cluster: ledger read + gate | per rotation (all clusters + one gate read) |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map(
      (r) =>
        `| ${r.store} | ${r.clusters.toLocaleString('en')} | ${per(r.register, r.clusters)} | ${per(r.ack, r.clusters)} | ${per(r.recheck, r.clusters)} | ${r.gate.requests}${r.listed === undefined ? '' : ` (${r.listed} secrets listed)`}, ${ms(r.gate.ms)} | ${r.recheck.requests + r.ack.requests + r.gate.requests} |`,
    ),
    '',
  ].join('\n'),
);
