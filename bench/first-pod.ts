/**
 * `bash test/stack/with-env.sh node bench/first-pod.ts [modes…]`: the first pod of a new namespace on the
 * stack's node (test/node/first-pod-burst.ts), once per mode, with the scheduler running:
 *
 * - `baseline`: the scheduler alone (no admission part, no healer);
 * - `policy`: the MutatingAdmissionPolicy, its param and binding kept current by the scheduler;
 * - `webhook`: the scheduler's mutating webhook (synchronous provisioning, its own certificate);
 * - `policy-late`: the policy while the scheduler is stopped (SIGSTOP) for the burst's first 20 s — the names
 *   come before their Secrets, as for a namespace a CronJob provisions only at its next run;
 * - `healer`: no admission part, the healer driven by the bench (the scheduler's wiring is the lead's).
 *
 * FIRST_POD_NAMESPACES (default 50) namespaces × 2 replicas, counted 60 s after the applies start.
 * Writes bench/results/first-pod-<timestamp>.json and prints one line per mode.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { sleep, suffix } from '../test/helpers/stack.ts';
import { describeBurst, removeBurst, runBurst, burstNamespaces } from '../test/node/first-pod-burst.ts';
import {
  driveHealer,
  latencyQuantile,
  startRotator,
  webhookLatency,
  type AdmissionMode,
} from '../test/helpers/admission.ts';

const ROOT = resolve(import.meta.dirname, '..');
const N = Number(process.env['FIRST_POD_NAMESPACES'] ?? 50);
type Mode = AdmissionMode | 'policy-late' | 'healer';
const modes = (process.argv.slice(2).length ? process.argv.slice(2) : ['baseline']) as Mode[];
const admissionOf = (m: Mode): AdmissionMode =>
  m === 'policy-late' ? 'policy' : m === 'healer' ? 'baseline' : m;

const results: Record<string, unknown> = {
  machine: `${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}, kubelet ${process.env['REGCRED_STACK_KUBE_VERSION'] ?? '?'}`,
  date: new Date().toISOString(),
  namespaces: N,
  replicas: 2,
  observeAfterSeconds: 60,
};
for (const mode of modes) {
  const sfx = suffix();
  const rotator = await startRotator(admissionOf(mode), sfx);
  const names = burstNamespaces({ prefix: `fp-${sfx}`, namespaces: N });
  const stop = new AbortController();
  const healer = mode === 'healer' ? driveHealer(rotator, names, stop.signal) : undefined;
  const pid = rotator.scheduler.child.pid ?? 0;
  const lat0 = webhookLatency(rotator.webhookName);
  try {
    if (mode === 'policy-late') process.kill(pid, 'SIGSTOP');
    const r = await runBurst({
      prefix: `fp-${sfx}`,
      namespaces: N,
      replicas: 2,
      labels: rotator.namespaceLabels,
      observeAfterMs: 60_000,
      secretBase: rotator.secretBase,
      during: async () => {
        if (mode !== 'policy-late') return;
        await sleep(20_000);
        process.kill(pid, 'SIGCONT');
      },
    });
    stop.abort();
    await healer?.done;
    const lat = webhookLatency(rotator.webhookName);
    const latency =
      mode === 'webhook'
        ? {
            calls: lat.count - lat0.count,
            meanSeconds: (lat.sum - lat0.sum) / Math.max(1, lat.count - lat0.count),
            p50AtMostSeconds: latencyQuantile(lat0, lat, 0.5),
            p99AtMostSeconds: latencyQuantile(lat0, lat, 0.99),
          }
        : undefined;
    console.log(
      `[bench] first pod, ${mode}: ${describeBurst(r)}${healer ? `; the healer deleted ${healer.deleted.length} pods` : ''}`,
    );
    const { pods_: pods, ...rest } = r;
    results[mode] = {
      ...rest,
      pods: pods.length,
      stuckPods: pods.filter((p) => p.pullBackOff),
      ...(healer ? { healerDeleted: healer.deleted.length, healerErrors: healer.errors } : {}),
      ...(latency ? { admissionLatency: latency } : {}),
    };
  } finally {
    await rotator.stop();
    await removeBurst(names);
  }
}
const dir = join(ROOT, 'bench/results');
mkdirSync(dir, { recursive: true });
const file = join(dir, `first-pod-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
console.log(`[bench] raw results: ${file}`);
