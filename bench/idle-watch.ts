/**
 * `npm run bench:idle`: scheduler mode watching BENCH_IDLE_N selected namespaces (default 1000) while nothing
 * changes for BENCH_IDLE_MINUTES (default 5), in clusters of each size in BENCH_IDLE_CLUSTERS (default
 * "1000,50000", ascending: the cluster grows between measurements by namespaces the config does not select).
 * For each size: a fresh scheduler's start-up pass, then its resident memory sampled every 30 s, and what it
 * asked the API server in the idle window (from the API server's audit log, by our user agent: only its
 * open watches are expected — no list, no write). Writes bench/results/idle-<timestamp>.json and prints a
 * Markdown table; deletes every namespace it made and waits until they are gone — unless it ran in the
 * throw-away bench cluster (BENCH_KUBECONFIG: test/stack/bench-cluster.sh), which is stopped instead. The
 * scheduler runs as the image runs it: the bundle (built first) with the image's V8 flags. Needs the stack.
 */
import { benchCluster, cliLabel } from './target.ts';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, readSync, statSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { NODE, useCreds, fileConfig, Workspace } from '../test/helpers/rotator.ts';
import { api, env, freePort, kubectl, sleep, stack, suffix, waitFor } from '../test/helpers/stack.ts';
import { pool } from '../src/base/pool.ts';
import { SetupClient } from './setup-client.ts';
import { imageRuntime } from './cluster.ts';

const N = Number(process.env['BENCH_IDLE_N'] ?? '1000');
const CLUSTERS = (process.env['BENCH_IDLE_CLUSTERS'] ?? '1000,50000')
  .split(',')
  .map(Number)
  .sort((a, b) => a - b);
const MINUTES = Number(process.env['BENCH_IDLE_MINUTES'] ?? '5');
const ROOT = resolve(import.meta.dirname, '..');
/** The bundle measured (BENCH_CLI: another build's main.js), built first unless given. */
const CLI = resolve(process.env['BENCH_CLI'] ?? join(ROOT, 'dist/cli/main.js'));
/** In the throw-away bench cluster nothing is deleted afterwards: the cluster is. */
const CLEAN_UP = process.env['BENCH_KUBECONFIG'] === undefined;
const log = (s: string) => process.stderr.write(`[bench:idle] ${s}\n`);

/** Our requests in the audit log after byte `from`, as "verb resource" → count (watches apart). */
function requestsSince(from: number): Map<string, number> {
  const file = env('REGCRED_STACK_AUDIT_LOG');
  const size = statSync(file).size;
  const buf = Buffer.alloc(size - from);
  const fd = openSync(file, 'r');
  readSync(fd, buf, 0, buf.length, from);
  closeSync(fd);
  const out = new Map<string, number>();
  for (const line of buf.toString('utf8').split('\n')) {
    if (!line.includes('"userAgent":"regcred-rotator')) continue;
    const e = JSON.parse(line) as { stage?: string; verb: string; objectRef?: { resource?: string } };
    // A request once: a watch when it starts streaming, anything else when it completes.
    if (e.stage !== (e.verb === 'watch' ? 'ResponseStarted' : 'ResponseComplete')) continue;
    const k = `${e.verb} ${e.objectRef?.resource ?? ''}`;
    out.set(k, (out.get(k) ?? 0) + 1);
  }
  return out;
}

const rssMb = (pid: number) =>
  Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024);

/** Creates namespaces as fast as the API server takes them; returns the seconds it took. */
async function createNamespaces(names: readonly string[], labels: Record<string, string>): Promise<number> {
  const w = new SetupClient(join(stack.run, 'pki'), env('REGCRED_STACK_APISERVER'));
  const t0 = performance.now();
  let done = 0;
  try {
    await pool(names, 48, undefined, async (name) => {
      await w.namespace(name, labels);
      if (++done % 5000 === 0) log(`${done}/${names.length} namespaces created`);
    });
  } finally {
    await w.close();
  }
  const s = (performance.now() - t0) / 1000;
  log(`${names.length} namespaces created in ${s.toFixed(1)} s (${(names.length / s).toFixed(0)}/s)`);
  return s;
}

/**
 * Waits until the controller-manager has given every namespace its `default` ServiceAccount: until then
 * the cluster is still filling (and the scheduler would see ServiceAccounts arrive). Returns the seconds.
 */
async function serviceAccountsSettled(namespaces: number): Promise<number> {
  const t0 = performance.now();
  await waitFor(
    `${namespaces} default ServiceAccounts`,
    async () => {
      const r = kubectl(
        'get',
        'serviceaccounts',
        '-A',
        '--field-selector',
        'metadata.name=default',
        '-o',
        'name',
      );
      const n = r.stdout.split('\n').filter(Boolean).length;
      if (n >= namespaces) return true;
      log(`${n}/${namespaces} default ServiceAccounts`);
      await sleep(5000);
      return undefined;
    },
    3_600_000,
  );
  return (performance.now() - t0) / 1000;
}

/** The scheduler, as the image runs it; `until` waits for a log line. */
function spawnScheduler(config: string) {
  const child = spawn(
    NODE,
    [...imageRuntime().flags, CLI, 'scheduler', '--config', config, '--log-format', 'json'],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...imageRuntime().env } },
  );
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const closed = new Promise<number>((r) => child.on('close', (code) => r(code ?? -1)));
  const until = (re: RegExp, timeoutMs: number) =>
    waitFor(`log ${re}`, async () => (re.test(err) ? true : undefined), timeoutMs);
  return { child, until, closed, stderr: () => err };
}

interface Measure {
  cluster: number;
  /** Namespaces in the cluster when the scheduler started (other workloads' included). */
  clusterActual: number;
  selected: number;
  startupPassSeconds: number;
  rssMb: { start: number; max: number; end: number; samples: number[] };
  requests: Record<string, number>;
}

/** One scheduler over the selection, idle for MINUTES. */
async function measure(sfx: string, cluster: number): Promise<Measure> {
  const w = new Workspace();
  useCreds(w, 1);
  const port = await freePort();
  fileConfig(
    w,
    { name: 'idle', secretName: `idle-${sfx}`, namespaces: { selector: `idle=${sfx}` } },
    {
      schedule: '0 3 1 1 *',
      metrics: { port },
      rotation: { concurrency: 16 },
      lock: { namespace: 'default', name: `idle-${sfx}` },
    },
  );
  const l = await api().listNamespace({ limit: 1 });
  const clusterActual = l.items.length + (l.metadata?.remainingItemCount ?? 0);
  const t0 = performance.now();
  const s = spawnScheduler(w.config);
  await s.until(/"msg":"run summary"/, 1_800_000);
  const startupPassSeconds = (performance.now() - t0) / 1000;
  log(`cluster ${cluster}: start-up pass over ${N} namespaces done in ${startupPassSeconds.toFixed(1)} s`);
  // Namespaces whose default ServiceAccount appeared after the pass are converged by the watches; wait
  // until the log has been quiet for 15 s.
  for (let last = s.stderr().length; ;) {
    await sleep(15_000);
    if (s.stderr().length === last) break;
    last = s.stderr().length;
  }
  const from = statSync(env('REGCRED_STACK_AUDIT_LOG')).size;
  const pid = s.child.pid ?? 0;
  const samples: number[] = [rssMb(pid)];
  log(`cluster ${cluster}: idle for ${MINUTES} min; RSS ${samples[0]} MB`);
  for (let i = 0; i < MINUTES * 2; i++) {
    await sleep(30_000);
    samples.push(rssMb(pid));
  }
  const requests = Object.fromEntries(requestsSince(from));
  s.child.kill('SIGTERM');
  await s.closed;
  return {
    cluster,
    clusterActual,
    selected: N,
    startupPassSeconds,
    rssMb: { start: samples[0] ?? 0, max: Math.max(...samples), end: samples.at(-1) ?? 0, samples },
    requests,
  };
}

if (process.env['BENCH_CLI'] === undefined) {
  const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`build failed: ${build.stdout}${build.stderr}`);
}
const sfx = suffix();
const creation: { namespaces: number; seconds: number; serviceAccountsSeconds: number }[] = [];
const selected = Array.from({ length: N }, (_, i) => `idle-${sfx}-${i}`);
const measures: Measure[] = [];
let others = 0;
try {
  log(`creating ${N} selected namespaces (label idle=${sfx})`);
  creation.push({
    namespaces: N,
    seconds: await createNamespaces(selected, { idle: sfx }),
    serviceAccountsSeconds: await serviceAccountsSettled(N),
  });
  for (const cluster of CLUSTERS) {
    const more = Math.max(0, cluster - N - others);
    if (more > 0) {
      log(`growing the cluster by ${more} namespaces the config does not select (label idle-other=${sfx})`);
      const names = Array.from({ length: more }, (_, i) => `idle-${sfx}-o${others + i}`);
      const seconds = await createNamespaces(names, { 'idle-other': sfx });
      others += more;
      creation.push({
        namespaces: more,
        seconds,
        serviceAccountsSeconds: await serviceAccountsSettled(N + others),
      });
    }
    measures.push(await measure(sfx, cluster));
  }
  report(measures);
} finally {
  if (CLEAN_UP) await cleanUp();
}

async function cleanUp(): Promise<void> {
  log('deleting the namespaces; waiting until they are gone');
  for (const sel of [`idle=${sfx}`, `idle-other=${sfx}`])
    kubectl('delete', 'namespaces', '-l', sel, '--wait=false');
  for (;;) {
    const n = ['idle', 'idle-other']
      .map((k) => kubectl('get', 'namespaces', '-l', `${k}=${sfx}`, '-o', 'name').stdout.trim())
      .filter(Boolean)
      .join('\n')
      .split('\n')
      .filter(Boolean).length;
    if (n === 0) break;
    log(`${n} namespaces still terminating`);
    await sleep(30_000);
  }
}

/** Writes bench/results/idle-<time>.json and prints the table (before the clean-up, which takes a while). */
function report(measures: Measure[]): void {
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}`;
  const result = {
    machine,
    date: new Date().toISOString(),
    cluster: benchCluster,
    cli: cliLabel,
    selected: N,
    minutes: MINUTES,
    creation,
    measures,
  };
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  const file = join(ROOT, `bench/results/idle-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  const base = measures[0]?.rssMb.max ?? 0;
  process.stdout.write(
    [
      `Scheduler mode watching ${N} selected namespaces, idle for ${MINUTES} min (${result.date}; ${machine}):`,
      '',
      '| cluster (namespaces in it) | start-up pass | RSS at start of the idle window | max | at its end | max ÷ smallest cluster | requests other than watches | watch (re)connections |',
      '|---|---|---|---|---|---|---|---|',
      ...measures.map((m) => {
        const reqs = Object.entries(m.requests);
        const other = reqs.filter(([k]) => !k.startsWith('watch '));
        const watches = reqs.filter(([k]) => k.startsWith('watch '));
        return `| ${m.cluster} (${m.clusterActual}) | ${m.startupPassSeconds.toFixed(1)} s | ${m.rssMb.start} MB | ${m.rssMb.max} MB | ${m.rssMb.end} MB | ${(m.rssMb.max / base).toFixed(2)}× | ${other.length === 0 ? 'none' : other.map(([k, v]) => `${k}: ${v}`).join(', ')} | ${watches.map(([k, v]) => `${k.slice(6)}: ${v}`).join(', ') || 'none'} |`;
      }),
      '',
      `raw: ${file}`,
    ].join('\n') + '\n',
  );
}
