/**
 * `npm run bench:memory`: the peak RSS and wall time of rotations at two sizes (BENCH_MEMORY_SIZES, default
 * "1000,10000") for several ways of running the CLI (V8 flags, the allocator's environment), the runs
 * interleaved (variant after variant, round after round: BENCH_MEMORY_ROUNDS, default 2) so that a machine
 * that is busier for a while weighs on every variant alike. The first variant, `image`, is what the
 * Dockerfile runs (imageRuntime); the others are given as JSON in BENCH_MEMORY_VARIANTS,
 * `{"name": {"flags": [...], "env": {...}, "cli": "path/to/main.js"}}` (default: the image with 8 malloc
 * arenas instead of its 2, and with `--heap-growing-percent=10`; `cli` runs another build, e.g. an older
 * commit's, against this one with the same flags). Each size is its own set of namespaces (one in five with a pod, every
 * `default` ServiceAccount with a foreign pull secret, as `npm run bench`), provisioned once; every measured
 * run is a rotation (the credentials alternate). Writes bench/results/memory-<timestamp>.json and prints a
 * Markdown table. Needs the throw-away bench cluster (BENCH_KUBECONFIG: test/stack/bench-cluster.sh): it
 * leaves its namespaces behind.
 */
import { benchCluster } from './target.ts';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { Workspace, fileConfig, useCreds } from '../test/helpers/rotator.ts';
import { env, stack, suffix } from '../test/helpers/stack.ts';
import { pool } from '../src/base/pool.ts';
import { SetupClient } from './setup-client.ts';
import { dockercfg, imageRuntime, ROOT, runRotator, type RunAs } from './cluster.ts';

type Variant = RunAs;
if (process.env['BENCH_KUBECONFIG'] === undefined)
  throw new Error(
    'bench:memory leaves thousands of namespaces behind: run it in the bench cluster (bash test/stack/bench-cluster.sh start, then bash test/stack/bench-cluster.sh run npm run bench:memory)',
  );
const image = imageRuntime();
const variants: Record<string, Variant> = {
  image: image,
  ...(JSON.parse(
    process.env['BENCH_MEMORY_VARIANTS'] ??
      JSON.stringify({
        'MALLOC_ARENA_MAX=8': { flags: image.flags, env: { ...image.env, MALLOC_ARENA_MAX: '8' } },
        '--heap-growing-percent=10': {
          flags: image.flags.map((f) =>
            f.startsWith('--heap-growing-percent=') ? '--heap-growing-percent=10' : f,
          ),
          env: image.env,
        },
      }),
  ) as Record<string, Variant>),
};
const SIZES = (process.env['BENCH_MEMORY_SIZES'] ?? '1000,10000').split(',').map(Number);
const ROUNDS = Number(process.env['BENCH_MEMORY_ROUNDS'] ?? 2);
const id = suffix();
const log = (s: string) => process.stderr.write(`[bench:memory] ${s}\n`);

const writer = new SetupClient(join(stack.run, 'pki'), env('REGCRED_STACK_APISERVER'));
async function setup(label: string, n: number): Promise<void> {
  const names = Array.from({ length: n }, (_, i) => `mf${label}-${String(i).padStart(5, '0')}`);
  const t0 = performance.now();
  await pool(names, 48, undefined, async (name) => {
    await writer.namespace(name, { bench: label });
    await writer.dockerSecret(name, 'team-mirror', dockercfg('mirror', 'mirror-pw'));
    await writer.defaultServiceAccount(name, ['team-mirror']);
    if (Number(name.slice(-5)) % 5 === 0)
      await writer.pod(name, 'app', {
        serviceAccountName: 'default',
        schedulerName: 'bench-none', // stays Pending: no scheduler writes its status or Events
        containers: [{ name: 'app', image: `${stack.registryBasic}/app:1` }],
      });
  });
  log(`${n} namespaces set up in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

const workspaces = new Map<number, { w: Workspace; creds: 1 | 2 }>();
/** One rotation of the `n` namespaces, run as `v` says: its wall time and the run summary's peak RSS. */
async function rotate(n: number, v: Variant): Promise<{ s: number; rssMb: number }> {
  const ws = workspaces.get(n)!;
  ws.creds = ws.creds === 1 ? 2 : 1;
  useCreds(ws.w, ws.creds);
  const t0 = performance.now();
  const summary = await runRotator(ws.w.config, [], process.env, v);
  return { s: (performance.now() - t0) / 1000, rssMb: Math.round(summary.maxRssKb / 1024) };
}

const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8' });
if (build.status !== 0) throw new Error(`build failed: ${build.stdout}${build.stderr}`);
for (const n of SIZES) {
  await setup(`${id}${n}`, n);
  const w = new Workspace();
  fileConfig(
    w,
    { name: 'bench', namespaces: { selector: `bench=${id}${n}` } },
    {
      rotation: { retainSuperseded: '0', concurrency: 16 },
      lock: { namespace: 'default', name: `bench-memory-${id}${n}` },
    },
  );
  workspaces.set(n, { w, creds: 2 });
  const p = await rotate(n, image); // provisions (not measured)
  log(`N=${n}: provisioned in ${p.s.toFixed(1)} s (${p.rssMb} MB)`);
}
await writer.close();

type Runs = { s: number[]; rssMb: number[] };
const runs: Record<string, Record<number, Runs>> = {};
for (let round = 1; round <= ROUNDS; round++)
  for (const [name, v] of Object.entries(variants))
    for (const n of SIZES) {
      const m = await rotate(n, v);
      const r = ((runs[name] ??= {})[n] ??= { s: [], rssMb: [] });
      r.s.push(Number(m.s.toFixed(1)));
      r.rssMb.push(m.rssMb);
      log(`round ${round}, ${name}, N=${n}: ${m.s.toFixed(1)} s, ${m.rssMb} MB`);
    }

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
};
const [small, large] = [SIZES[0]!, SIZES.at(-1)!];
const pct = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(Math.round(x * 100))} %`;
const rows = Object.entries(runs).map(([name, r]) => {
  const a = r[small]!;
  const b = r[large]!;
  const growth = median(b.rssMb) / median(a.rssMb) - 1;
  const base = runs['image']![large]!;
  const slower = median(b.s) / median(base.s) - 1;
  return `| ${name} | ${a.rssMb.join(', ')} MB | ${b.rssMb.join(', ')} MB | **${pct(growth)}** | ${a.s.join(', ')} s | ${b.s.join(', ')} s | ${name === 'image' ? '–' : pct(slower)} |`;
});
const date = new Date().toISOString();
mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
const file = join(ROOT, `bench/results/memory-${date.replace(/[:.]/g, '-')}.json`);
writeFileSync(
  file,
  JSON.stringify(
    {
      date,
      machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`,
      cluster: benchCluster,
      sizes: SIZES,
      variants,
      runs,
    },
    null,
    2,
  ),
);
process.stdout.write(
  [
    `| variant | ${small}: peak RSS | ${large}: peak RSS | ${large} ÷ ${small} (medians) | ${small}: rotation | ${large}: rotation | ${large}: rotation against the image (medians) |`,
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    `raw: ${file}`,
    '',
  ].join('\n'),
);
