/**
 * `npm run bench:idle`: scheduler mode watching N namespaces (BENCH_IDLE_N, default 5000) while nothing
 * changes for BENCH_IDLE_MINUTES (default 10). Reports what it asked the API server in that window (from
 * the API server's audit log, by our user agent: only its open watches are expected — no list, no write)
 * and its resident memory sampled every 30 s (flat, not growing). Needs the stack (npm run stack:up).
 */
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { spawnCli, useCreds, fileConfig, Workspace } from '../test/helpers/rotator.ts';
import { api, env, freePort, sleep, suffix } from '../test/helpers/stack.ts';
import { pool } from '../src/base/pool.ts';

const N = Number(process.env['BENCH_IDLE_N'] ?? '5000');
const MINUTES = Number(process.env['BENCH_IDLE_MINUTES'] ?? '10');
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

const sfx = suffix();
const names = Array.from({ length: N }, (_, i) => `idle-${sfx}-${i}`);
log(`creating ${N} namespaces labelled idle=${sfx}`);
await pool(names, 32, undefined, async (name) => {
  await api().createNamespace({ body: { metadata: { name, labels: { idle: sfx } } } });
});

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
const t0 = performance.now();
const s = spawnCli(['--config', w.config, '--log-format', 'json'], /"msg":"scheduler started"/);
await s.until(/"msg":"run summary"/, 900_000);

log(`start-up pass over ${N} namespaces done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
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
log(`idle for ${MINUTES} min; RSS ${samples[0]} MB`);
for (let i = 0; i < MINUTES * 2; i++) {
  await sleep(30_000);
  samples.push(rssMb(pid));
}
const requests = requestsSince(from);
s.child.kill('SIGTERM');
await s.closed;
await pool(names, 32, undefined, async (name) => {
  await api()
    .deleteNamespace({ name })
    .catch(() => undefined);
});

const other = [...requests].filter(([k]) => !k.startsWith('watch '));
process.stdout.write(
  [
    `Scheduler mode watching ${N} namespaces, idle for ${MINUTES} min (${new Date().toISOString()}):`,
    '',
    '| RSS at start of the idle window | max | at its end | requests other than watches | watch (re)connections |',
    '|---|---|---|---|---|',
    `| ${samples[0]} MB | ${Math.max(...samples)} MB | ${samples.at(-1)} MB | ${other.length === 0 ? 'none' : other.map(([k, v]) => `${k}: ${v}`).join(', ')} | ${
      [...requests]
        .filter(([k]) => k.startsWith('watch '))
        .map(([k, v]) => `${k.slice(6)}: ${v}`)
        .join(', ') || 'none'
    } |`,
    '',
    `RSS samples every 30 s (MB): ${samples.join(' ')}`,
  ].join('\n') + '\n',
);
