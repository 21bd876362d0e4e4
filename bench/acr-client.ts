/**
 * What the ACR issuer's ARM client costs: the project's small client (src/issuers/acr/client.ts over
 * src/net/http.ts, bundled by esbuild as the CLI ships it, the Azure packages external) against the real
 * `@azure/arm-containerregistry`, each with the `@azure/identity` credential both need. Every sample is a
 * fresh Node process: import time and RSS growth over a bare process, then (with the stack's env) the
 * first GET of the stack's token through the ACR double, and RSS after it. Medians of BENCH_RUNS
 * (default 9) samples.
 *
 *   bash test/stack/with-env.sh node bench/acr-client.ts
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

type Variant = 'identity' | 'client' | 'sdk';
interface Sample {
  importMs: number;
  /** CPU time of the imports (user + system): what they cost, less disturbed by other load than wall time. */
  importCpuMs: number;
  importRssMb: number;
  callMs?: number;
  callRssMb?: number;
}

const rss = () => process.memoryUsage().rss / 1048576;

type ClientModule = typeof import('../src/issuers/acr/client.ts') & typeof import('../src/net/http.ts');

async function sample(variant: Variant, bundle: string): Promise<Sample> {
  const r0 = rss();
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const { ClientSecretCredential } = await import('@azure/identity');
  const client =
    variant === 'client' ? ((await import(pathToFileURL(bundle).href)) as ClientModule) : undefined;
  const net = client;
  const sdk = variant === 'sdk' ? await import('@azure/arm-containerregistry') : undefined;
  const cpu = process.cpuUsage(c0);
  const out: Sample = {
    importMs: performance.now() - t0,
    importCpuMs: (cpu.user + cpu.system) / 1000,
    importRssMb: rss() - r0,
  };
  const e = process.env;
  if (variant === 'identity' || !e['REGCRED_STACK_ACR_ARM']) return out;
  const credential = new ClientSecretCredential(
    e['REGCRED_STACK_AZURE_TENANT'] ?? '',
    e['REGCRED_STACK_ACR_ROTATOR'] ?? '',
    e['REGCRED_STACK_ACR_ROTATOR_SECRET'] ?? '',
  );
  const [arm, audience, sub, rg, reg, token] = [
    'ARM',
    'AUDIENCE',
    'SUBSCRIPTION',
    'RESOURCE_GROUP',
    'REGISTRY',
    'TOKEN',
  ].map((k) => e[`REGCRED_STACK_ACR_${k}`] ?? '') as [string, string, string, string, string, string];
  const t1 = performance.now();
  if (client && net) {
    const c = new client.ArmClient({
      endpoint: arm,
      scope: `${audience}/.default`,
      credential: async () => credential,
      timeoutMs: 15_000,
      pool: new net.ConnectionPool(),
    });
    await c.get(
      `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.ContainerRegistry/registries/${reg}/tokens/${token}`,
    );
  } else if (sdk) {
    const c = new sdk.ContainerRegistryManagementClient(credential, sub, {
      endpoint: arm,
      credentials: { scopes: [`${audience}/.default`] },
    });
    await c.tokens.get(rg, reg, token);
  }
  return { ...out, callMs: performance.now() - t1, callRssMb: rss() - r0 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

if (process.argv[2] === '--sample') {
  process.stdout.write(JSON.stringify(await sample(process.argv[3] as Variant, process.argv[4] ?? '')));
  process.exit(0);
}
const runs = Number(process.env['BENCH_RUNS'] ?? 9);
const self = fileURLToPath(import.meta.url);
// Beside the sources, so that the bundle finds node_modules as the CLI's own bundle does.
const bundle = join(mkdtempSync(join(import.meta.dirname, '.acr-client-')), 'client.mjs');
const { build } = await import('esbuild');
await build({
  stdin: {
    contents:
      "export * from './src/issuers/acr/client.ts'; export { ConnectionPool } from './src/net/http.ts';",
    resolveDir: join(import.meta.dirname, '..'),
    loader: 'ts',
  },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  external: ['@azure/*'],
  outfile: bundle,
});
const resolveHook = process.env['REGCRED_STACK_AZURE_RESOLVE'];
// Interleaved, so that load from elsewhere falls on every variant alike.
const variants = ['identity', 'client', 'sdk'] as const;
const samples = new Map<Variant, Sample[]>(variants.map((v) => [v, []]));
for (let i = 0; i < runs; i++) {
  for (const v of variants) {
    const args = [...(resolveHook ? [`--import=${resolveHook}`] : []), self, '--sample', v, bundle];
    const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${v}: ${r.stderr}`);
    samples.get(v)?.push(JSON.parse(r.stdout) as Sample);
  }
}
const rows = variants.map((v) => {
  const m = (k: keyof Sample) => median((samples.get(v) ?? []).map((s) => s[k] ?? NaN)).toFixed(1);
  return `| ${v} | ${m('importMs')} | ${m('importCpuMs')} | ${m('importRssMb')} | ${m('callMs')} | ${m('callRssMb')} |`;
});
rmSync(dirname(bundle), { recursive: true });
console.log(`medians of ${runs} fresh processes (Node ${process.version})`);
console.log('| variant | import ms | import CPU ms | import RSS MB | first GET ms | RSS after GET MB |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
