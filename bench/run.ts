/**
 * `npm run bench`: regcred-rotator against the seed recipe (a bash loop of kubectl) and against a minimal
 * concurrent client, on the same stack, for N namespaces each (BENCH_SIZES, default 10,100,1000).
 * Every namespace has a `default` ServiceAccount with one foreign pull secret; one in five has a pod
 * created under it. Requests are counted by the API server (apiserver_request_total). Writes
 * bench/results/<timestamp>.json and prints a Markdown table for bench/README.md.
 *
 * BENCH_KUBECONFIG (with BENCH_APISERVER and BENCH_AUDIT_LOG) runs it in another cluster than the stack's
 * main one: the throw-away bench cluster (test/stack/bench-cluster.sh). BENCH_CLI measures another build of
 * the CLI (a main.js, e.g. an older commit's bundle in a worktree of its own) with this workload.
 *
 * Then, per issuer class, a rotation from a stored credential against one the rotator mints itself
 * (bench/issuers.ts): in the same cluster, with this checkout's build (not BENCH_CLI), against the stack's
 * registries and OpenBao.
 */
import { benchCluster, cliLabel } from './target.ts';
import { spawnSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Workspace, fileConfig, useCreds } from '../test/helpers/rotator.ts';
import { api, env, kubectl, quiesce, stack, suffix } from '../test/helpers/stack.ts';
import { adminTarget, minimalRotation } from './minimal-client.ts';
import { SetupClient } from './setup-client.ts';
import { issuerBench, ISSUER_TABLE_HEAD } from './issuers.ts';
import { dockercfg, imageRuntime, measure, removeLabelled, ROOT, type Counts } from './cluster.ts';
import { pool } from '../src/base/pool.ts';

/** `BENCH_SIZES=` (empty) runs none of these rows (e.g. the issuer rows alone). */
const SIZES = (process.env['BENCH_SIZES'] ?? '10,100,1000')
  .split(',')
  .filter((x) => x.trim() !== '')
  .map(Number);
/** The issuer rows (bench/issuers.ts) at BENCH_ISSUER_N namespaces; BENCH_ISSUERS=0 skips them. */
const ISSUERS = process.env['BENCH_ISSUERS'] !== '0';
const ISSUER_N = Number(process.env['BENCH_ISSUER_N'] ?? 1000);
const SEED_MAX = Number(process.env['BENCH_SEED_MAX'] ?? '1000');
/** BENCH_MINIMAL=0 skips the minimal client (a quicker re-measure of the rotator alone). */
const MINIMAL = process.env['BENCH_MINIMAL'] !== '0';
const id = suffix();
/** The bundle measured: this checkout's (built by startup() below, as the image and the bin run it). */
const CLI = resolve(process.env['BENCH_CLI'] ?? join(ROOT, 'dist/cli/main.js'));

/** Setup requests in flight: at this many the API server, not the bench, is the limit. */
const SETUP_CONCURRENCY = Number(process.env['BENCH_SETUP_CONCURRENCY'] ?? '48');
const setupSeconds: Record<string, number> = {};
let setupClient: SetupClient | undefined;
const writer = () =>
  (setupClient ??= new SetupClient(join(stack.run, 'pki'), env('REGCRED_STACK_APISERVER')));

/**
 * N namespaces labelled bench=<label>, each default SA with a foreign pull secret, 1 in 5 with a pod. The
 * bench writes the `default` ServiceAccount itself with its pull secrets (the controller-manager leaves an
 * existing one alone; when it was first, the list is patched in) instead of waiting for the controller's.
 */
async function setup(
  label: string,
  n: number,
  withOld: 'regcred-old' | 'regcred' | undefined,
  pods = true,
): Promise<string[]> {
  const names = Array.from({ length: n }, (_, i) => `b${label}-${String(i).padStart(4, '0')}`);
  const w = writer();
  const t0 = performance.now();
  await pool(names, SETUP_CONCURRENCY, undefined, async (name) => {
    await w.namespace(name, { bench: label });
    const pulls = ['team-mirror'];
    await w.dockerSecret(name, 'team-mirror', dockercfg('mirror', 'mirror-pw'));
    if (withOld) {
      await w.dockerSecret(name, withOld, dockercfg(stack.user, stack.password));
      pulls.push(withOld);
    }
    await w.defaultServiceAccount(name, pulls);
    if (pods && Number(name.slice(-4)) % 5 === 0)
      await w.pod(name, 'app', {
        serviceAccountName: 'default',
        containers: [{ name: 'app', image: `${stack.registryBasic}/app:1` }],
      });
  });
  const s = (performance.now() - t0) / 1000;
  process.stderr.write(`[bench] ${n} namespaces set up in ${s.toFixed(1)} s (${(n / s).toFixed(0)}/s)\n`);
  setupSeconds[label] = s;
  return names;
}

async function tool(n: number) {
  const label = `t${id}${n}`;
  const names = await setup(label, n, undefined, false);
  const w = new Workspace();
  fileConfig(
    w,
    { name: 'bench', namespaces: { selector: `bench=${label}` } },
    {
      rotation: { retainSuperseded: '0', concurrency: 16 },
      lock: { namespace: 'default', name: `bench-${label}` },
    },
  );
  const run = async (): Promise<number | undefined> => {
    const r = spawnSync(
      join(ROOT, 'node_modules/.bin/node'),
      [
        ...imageRuntime().flags, // as the image runs it (Dockerfile)
        CLI,
        '--config',
        w.config,
        '--log-format',
        'json',
        '--rotate-now',
      ],
      { encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, ...imageRuntime().env } },
    );
    const summary = r.stderr
      .split('\n')
      .filter((l) => l.includes('"run summary"'))
      .map((l) => JSON.parse(l) as { maxRssKb: number; outcomes: Counts })[0];
    if (r.status !== 0 || !summary) throw new Error(`rotator failed (${r.status}): ${r.stderr.slice(-2000)}`);
    return summary.maxRssKb;
  };
  useCreds(w, 1);
  const provision = await measure(run);
  // Pods created now carry the first secret (F2): the rotation must keep it for them.
  const podSpec = {
    serviceAccountName: 'default',
    // No scheduler picks these up: they stay Pending without the kube-scheduler writing their status and
    // FailedScheduling Events into the API server's counts (the stack runs a scheduler for its node).
    schedulerName: 'bench-none',
    containers: [{ name: 'app', image: `${stack.registryBasic}/app:1` }],
  };

  // Not all at once: 2,000 at once make the API server close connections.
  await pool(
    names.filter((_, i) => i % 5 === 0),
    SETUP_CONCURRENCY,
    undefined,
    async (namespace) => {
      await writer().pod(namespace, 'app', podSpec);
    },
  );
  useCreds(w, 2);
  const rotation = await measure(run);
  const noop = await measure(run);
  return { provision, rotation, noop };
}

async function minimal(n: number) {
  const names = await setup(`m${id}${n}`, n, 'regcred-old');
  const t = adminTarget(join(stack.run, 'pki'), env('REGCRED_STACK_APISERVER'));
  return measure(async () => {
    await minimalRotation(t, names, dockercfg(stack.user2, stack.password2), 'team-mirror');
    return undefined;
  });
}

async function seed(n: number) {
  const names = await setup(`s${id}${n}`, n, 'regcred');
  const script = join(ROOT, 'bench/seed-recipe.sh');
  const m = await measure(async () => {
    const r = spawnSync('bash', [script, ...names], {
      encoding: 'utf8',
      env: {
        ...process.env,
        REGISTRY: stack.registryBasic,
        REG_USER: stack.user2,
        REG_PASS: stack.password2,
      },
      maxBuffer: 64 << 20,
    });
    if (r.status !== 0) throw new Error(`seed recipe failed: ${r.stderr.slice(-1000)}`);
    return undefined;
  });
  // What the seed recipe leaves behind.
  let foreignLost = 0;
  let dangling = 0;
  for (const ns of names) {
    const pulls = (
      (await api().readNamespacedServiceAccount({ namespace: ns, name: 'default' })).imagePullSecrets ?? []
    ).map((r) => r.name ?? '');
    const secrets = new Set(
      (await api().listNamespacedSecret({ namespace: ns })).items.map((s) => s.metadata?.name),
    );
    if (!pulls.includes('team-mirror')) foreignLost++;
    if (pulls.some((p) => !secrets.has(p))) dangling++;
  }
  return { ...m, foreignLost, dangling };
}

function machine(): string {
  const k = kubectl('version', '-o', 'json');
  const server =
    (JSON.parse(k.stdout) as { serverVersion?: { gitVersion?: string } }).serverVersion?.gitVersion ?? '?';
  return `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}, kube-apiserver ${server} + etcd 3.6.16 on the same machine`;
}

/**
 * Start-up of the compiled CLI (what the bin and the image run): best of 7 wall times and peak RSS for
 * `--version`, `--help`, and `validate` of a config whose stores are not contacted.
 */
function startup(): { cmd: string; ms: number; rssMb: number }[] {
  const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`build failed: ${build.stdout}${build.stderr}`);
  const w = new Workspace();
  fileConfig(w, { name: 'startup', namespaces: { names: ['a'] } });
  const node = join(ROOT, 'node_modules/.bin/node');
  const main = CLI;
  return [['--version'], ['--help'], ['--config', w.config, 'validate']].map((args) => {
    let ms = Number.POSITIVE_INFINITY;
    let rssMb = 0;
    for (let i = 0; i < 7; i++) {
      const t0 = performance.now();
      const r = spawnSync('/usr/bin/time', ['-f', '%M', node, main, ...args], { encoding: 'utf8' });
      ms = Math.min(ms, performance.now() - t0);
      rssMb = Math.round(Number(r.stderr.trim().split('\n').at(-1)) / 1024);
    }
    return {
      cmd: args.filter((a) => a !== w.config && a !== '--config').join(' ') || args.join(' '),
      ms,
      rssMb,
    };
  });
}

await quiesce();
const results: Record<string, unknown> = {
  machine: machine(),
  date: new Date().toISOString(),
  sizes: SIZES,
  cluster: benchCluster,
  cli: cliLabel,
};
const boot = startup();
results['startup'] = boot;
const rows: string[] = [];
const s = (ms: number) => (ms / 1000).toFixed(ms < 10_000 ? 2 : 1);
for (const n of SIZES) {
  process.stderr.write(`[bench] N=${n}: regcred-rotator\n`);
  const t = await tool(n);
  // The stack's API server is shared: what a step made goes before the next step is measured.
  await removeLabelled(`t${id}${n}`);
  process.stderr.write(`[bench] N=${n}: minimal client${MINIMAL ? '' : ' (skipped: BENCH_MINIMAL=0)'}\n`);
  const m = MINIMAL ? await minimal(n) : { ms: Number.NaN, total: Number.NaN };
  await removeLabelled(`m${id}${n}`);
  const sd =
    n <= SEED_MAX
      ? (process.stderr.write(`[bench] N=${n}: seed recipe (kubectl loop)\n`), await seed(n))
      : undefined;
  await removeLabelled(`s${id}${n}`);
  results[`N=${n}`] = { tool: t, minimal: m, seed: sd };
  rows.push(
    `| ${n} | ${s(t.provision.ms)} s / ${t.provision.total} (${t.provision.writes} w) | ${s(t.rotation.ms)} s / ${t.rotation.total} (${t.rotation.writes} w) | ${s(t.noop.ms)} s / ${t.noop.total} (${t.noop.writes} w) | ${(t.rotation.total / n).toFixed(2)} | ${t.provision.maxRssMb ?? '?'} / ${t.rotation.maxRssMb ?? '?'} / ${t.noop.maxRssMb ?? '?'} MB | ${MINIMAL ? `${s(m.ms)} s / ${m.total}` : 'not run'} | ${sd ? `${s(sd.ms)} s / ${sd.total}` : 'not run'} | ${sd ? `${(sd.ms / t.rotation.ms).toFixed(1)}×` : '-'} | ${MINIMAL ? `${(t.rotation.ms / m.ms).toFixed(2)}×` : '-'} | ${sd ? `${sd.foreignLost}/${n} lost the foreign entry, ${sd.dangling}/${n} point at a deleted secret` : '-'} |`,
  );
  process.stderr.write(`${rows.at(-1) ?? ''}\n`);
}
await setupClient?.close();
results['setupSeconds'] = setupSeconds;
const issuerRows: string[] = [];
if (ISSUERS) {
  const i = await issuerBench(ISSUER_N, id);
  results['issuers'] = i.results;
  issuerRows.push(...i.rows);
  for (const r of i.rows) process.stderr.write(`${r}\n`);
}
mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
const file = join(ROOT, `bench/results/${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify(results, null, 2));
const table = [
  `Machine: ${String(results['machine'])}. Date: ${String(results['date'])}.`,
  '',
  '| N | provision: wall / requests (writes) | rotation | no-op rerun | requests per namespace (rotation) | peak RSS (provision / rotation / no-op) | minimal client (rotation only) | seed recipe (rotation only) | seed ÷ rotator | rotator ÷ minimal | state the seed recipe left |',
  '|---|---|---|---|---|---|---|---|---|---|---|',
  ...rows,
  '',
  '| command (compiled CLI) | wall (best of 7) | peak RSS |',
  '|---|---|---|',
  ...boot.map((b) => `| \`${b.cmd}\` | ${(b.ms / 1000).toFixed(3)} s | ${b.rssMb} MB |`),
  ...(issuerRows.length > 0 ? ['', ...ISSUER_TABLE_HEAD, ...issuerRows] : []),
].join('\n');
process.stdout.write(`${table}\n\nraw: ${file}\n`);
