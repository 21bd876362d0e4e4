/**
 * What the benchmarks share: the API server's own request counts around a step, the workload of N
 * namespaces (each `default` ServiceAccount with a foreign pull secret; pods under it), and one run of the
 * built CLI as the image runs it.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { pool } from '../src/base/pool.ts';
import { withRetry } from '../src/base/retry.ts';
import { api, apiserverRequests, sleep, stack, waitFor } from '../test/helpers/stack.ts';

const MERGE = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const RESOURCES = new Set(['secrets', 'serviceaccounts', 'pods', 'namespaces', 'leases', 'events']);
export const ROOT = resolve(import.meta.dirname, '..');

/** How a bench runs the CLI: node flags, environment over the parent's, another build's main.js (`cli`). */
export interface RunAs {
  flags: string[];
  env?: Record<string, string> | undefined;
  cli?: string | undefined;
}

/**
 * How the image runs the CLI, read from the Dockerfile so that a bench cannot drift from it: the V8 flags of
 * its entry point (between the node binary and main.js), and the environment it sets for the process's
 * allocator (`MALLOC_*`). `flags` go before the script on a node command line; `env` over the parent's.
 */
export function imageRuntime(): RunAs & { env: Record<string, string> } {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const entry = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(dockerfile)?.[1];
  if (!entry) throw new Error('Dockerfile: no ENTRYPOINT ["node", ..., "main.js"] line');
  const argv = JSON.parse(entry) as string[];
  const env: Record<string, string> = {};
  for (const m of dockerfile.matchAll(/^ENV\s+(.+)$/gm))
    for (const kv of m[1]!.split(/\s+/)) {
      const [k, v] = kv.split('=');
      if (k?.startsWith('MALLOC_') && v !== undefined) env[k] = v;
    }
  return { flags: argv.slice(1, -1), env };
}

export type Counts = Record<string, number>;
export interface Measure {
  ms: number;
  requests: Counts;
  total: number;
  writes: number;
  maxRssMb?: number | undefined;
}

function delta(before: Map<string, number>, after: Map<string, number>): Counts {
  const d: Counts = {};
  for (const [k, v] of after) {
    const [verb, resource] = k.split(' ');
    if (!RESOURCES.has(resource ?? '')) continue;
    if (verb === 'WATCH') continue;
    const n = v - (before.get(k) ?? 0);
    if (n > 0) d[k] = n;
  }
  return d;
}

export async function measure(fn: () => Promise<number | undefined>): Promise<Measure> {
  const before = await apiserverRequests();
  const t0 = performance.now();
  const rss = await fn();
  const ms = performance.now() - t0;
  const requests = delta(before, await apiserverRequests());
  const total = Object.values(requests).reduce((a, b) => a + b, 0);
  const writes = Object.entries(requests)
    .filter(([k]) => /^(POST|PUT|PATCH|DELETE) /.test(k))
    .reduce((a, [, v]) => a + v, 0);
  return { ms, requests, total, writes, maxRssMb: rss === undefined ? undefined : Math.round(rss / 1024) };
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
export const dockercfg = (u: string, p: string) =>
  b64(
    JSON.stringify({
      auths: { [stack.registryBasic]: { username: u, password: p, auth: b64(`${u}:${p}`) } },
    }),
  );

/**
 * A setup call, retried on a dropped connection or a busy API server (429, 5xx: a shared stack deleting
 * thousands of namespaces answers 504 now and then; 10,000 namespaces take minutes of calls).
 */
export const again = <T>(call: () => Promise<T>): Promise<T> =>
  withRetry(call, {
    attempts: 6,
    baseMs: 250,
    maxMs: 4000,
    decide: (e) => {
      const code = (e as { code?: unknown }).code;
      const busy = typeof code === 'number' && (code === 429 || code >= 500);
      const dropped = /fetch failed|other side closed|ECONNRESET|socket hang up/i.test(
        `${String(e)} ${String((e as { cause?: unknown }).cause)}`,
      );
      return { retry: busy || dropped };
    },
  });

/** N namespaces labelled bench=<label>, each default SA with a foreign pull secret, 1 in 5 with a pod. */
export async function setup(
  label: string,
  n: number,
  withOld: 'regcred-old' | 'regcred' | undefined,
  pods = true,
): Promise<string[]> {
  const names = Array.from({ length: n }, (_, i) => `b${label}-${String(i).padStart(4, '0')}`);
  const queue = [...names];
  const worker = async () => {
    for (let ns = queue.shift(); ns !== undefined; ns = queue.shift()) {
      const name = ns;
      await again(() => api().createNamespace({ body: { metadata: { name, labels: { bench: label } } } }));
      await waitFor(
        `SA in ${name}`,
        () => api().readNamespacedServiceAccount({ namespace: name, name: 'default' }),
        60_000,
      );
      const pulls = [{ name: 'team-mirror' }];
      await again(() =>
        api().createNamespacedSecret({
          namespace: name,
          body: {
            metadata: { name: 'team-mirror' },
            type: 'kubernetes.io/dockerconfigjson',
            data: { '.dockerconfigjson': dockercfg('mirror', 'mirror-pw') },
          },
        }),
      );
      if (withOld) {
        await again(() =>
          api().createNamespacedSecret({
            namespace: name,
            body: {
              metadata: { name: withOld },
              type: 'kubernetes.io/dockerconfigjson',
              data: { '.dockerconfigjson': dockercfg(stack.user, stack.password) },
            },
          }),
        );
        pulls.push({ name: withOld });
      }
      await again(() =>
        api().patchNamespacedServiceAccount(
          { namespace: name, name: 'default', body: { imagePullSecrets: pulls } },
          MERGE,
        ),
      );
      if (pods && Number(name.slice(-4)) % 5 === 0) {
        await again(() =>
          api().createNamespacedPod({
            namespace: name,
            body: {
              metadata: { name: 'app' },
              spec: {
                serviceAccountName: 'default',
                containers: [{ name: 'app', image: `${stack.registryBasic}/app:1` }],
              },
            },
          }),
        );
      }
    }
  };
  await Promise.all(Array.from({ length: 24 }, worker));
  return names;
}

/**
 * A pod under the default ServiceAccount in one namespace in five (`names` from `setup`): created after a
 * provisioning run, it holds the first secret, and a rotation must keep that secret (refreshed) for it.
 * No scheduler picks these up: they stay Pending without the kube-scheduler writing their status and
 * FailedScheduling Events into the API server's counts (the stack runs a scheduler for its node).
 */
export async function addPods(names: readonly string[]): Promise<void> {
  const spec = {
    serviceAccountName: 'default',
    schedulerName: 'bench-none',
    containers: [{ name: 'app', image: `${stack.registryBasic}/app:1` }],
  };
  // 24 at a time: 2,000 at once make the API server close connections.
  await pool(
    names.filter((_, i) => i % 5 === 0),
    24,
    undefined,
    async (namespace) => {
      await again(() => api().createNamespacedPod({ namespace, body: { metadata: { name: 'app' }, spec } }));
    },
  );
}

export interface RunSummaryLine {
  maxRssKb: number;
  outcomes: Counts;
  issuance?: { target: string; issued?: string; verifiedAfterMs?: number; revoked?: string[] }[];
}

/**
 * One `--rotate-now` process of the built CLI (`dist/`), exactly as the CronJob runs it (Node 24 with the
 * image's heap flags and allocator setting), or as `how` says; fails unless it exits 0. Resolves to its `run summary` line. Asynchronous, so that the
 * bench can watch a registry while the run is under way.
 */
export function runRotator(
  config: string,
  args: readonly string[] = [],
  env: NodeJS.ProcessEnv = process.env,
  how: RunAs = imageRuntime(),
): Promise<RunSummaryLine> {
  return new Promise((done, fail) => {
    const child = spawn(
      join(ROOT, 'node_modules/.bin/node'),
      [
        ...how.flags,
        how.cli ?? join(ROOT, 'dist/cli/main.js'),
        '--config',
        config,
        '--log-format',
        'json',
        '--rotate-now',
        ...args,
      ],
      { env: { ...env, ...how.env }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', fail);
    child.on('close', (status) => {
      const summary = stderr
        .split('\n')
        .filter((l) => l.includes('"run summary"'))
        .map((l) => JSON.parse(l) as RunSummaryLine)[0];
      if (status !== 0 || !summary) fail(new Error(`rotator failed (${status}): ${stderr.slice(-2000)}`));
      else done(summary);
    });
  });
}

/**
 * Deletes the namespaces `setup` made (label bench=<label>) and waits until the namespace controller has
 * removed them: the stack's API server is shared, and the next measurement should not pay for their removal.
 */
export async function removeNamespaces(label: string, names: readonly string[]): Promise<void> {
  await pool(names, 24, undefined, async (name) => {
    await again(() => api().deleteNamespace({ name })).catch(() => undefined);
  });
  await waitFor(
    `the bench=${label} namespaces removed`,
    async () => {
      const left = await api().listNamespace({ labelSelector: `bench=${label}`, limit: 1 });
      if (left.items.length === 0) return true;
      await sleep(2000);
      return undefined;
    },
    900_000,
  );
}

/** `fn` on the namespaces `setup` made, then those namespaces removed, whether `fn` succeeded or not. */
export async function within<T>(label: string, names: readonly string[], fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } finally {
    await removeNamespaces(label, names);
  }
}

/** `removeNamespaces` for every namespace labelled bench=<label>, whoever made it. */
export async function removeLabelled(label: string): Promise<void> {
  const names: string[] = [];
  let _continue: string | undefined;
  do {
    const l = await api().listNamespace({ labelSelector: `bench=${label}`, limit: 500, _continue });
    names.push(...l.items.map((x) => x.metadata?.name ?? '').filter((x) => x !== ''));
    _continue = l.metadata?._continue || undefined;
  } while (_continue);
  await removeNamespaces(label, names);
}
