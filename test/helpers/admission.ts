/**
 * The rotator's scheduler on the stack with an admission part: none (the baseline), the
 * MutatingAdmissionPolicy of deploy/components/admission/policy, or the webhook of
 * deploy/components/admission/webhook served by the scheduler itself — each object from the repository's
 * manifests, renamed for this test so runs never share them, the webhook reached by URL (the scheduler runs
 * on the stack's address, not in a pod). Each rotator gets its own namespace (run Lease, TLS Secret, params).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { parseAllDocuments, stringify } from 'yaml';
import { createLogger } from '../../src/base/logger.ts';
import { loadConfig } from '../../src/config/load.ts';
import { Healer } from '../../src/healer/healer.ts';
import { healerCluster } from '../../src/healer/kube.ts';
import { toPodState } from '../../src/kube/convert.ts';
import { connectKube } from '../../src/kube/client.ts';
import { K8sGateway } from '../../src/kube/k8s-gateway.ts';
import { spawnCli, useCreds, Workspace } from './rotator.ts';
import { ROOT } from './deploy.ts';
import { api, deleteNamespaces, env, freePort, kubectl, sleep, stack, waitFor } from './stack.ts';

export type AdmissionMode = 'baseline' | 'policy' | 'webhook';

/** The webhook's name in this rotator's configuration: the API server's metrics are labelled with it. */
export const webhookName = (sfx: string) => `inject-${sfx}.regcred-rotator.io`;

const COMPONENT = join(ROOT, 'deploy/components/admission');
type Doc = Record<string, unknown> & { kind: string; metadata: { name: string } };

export function manifests(part: 'webhook' | 'policy'): Doc[] {
  return parseAllDocuments(readFileSync(join(COMPONENT, part, `${part}.yaml`), 'utf8')).map(
    (d) => d.toJS() as Doc,
  );
}

export function kubectlApply(docs: unknown[]): void {
  const r = spawnSync(stack.kubectlBin, ['--kubeconfig', stack.kubeconfig, 'apply', '-f', '-'], {
    input: docs.map((d) => stringify(d)).join('---\n'),
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`kubectl apply: ${r.stderr}`);
}

export interface Rotator {
  mode: AdmissionMode;
  configFile: string;
  /** The rotator's own namespace (Lease, TLS Secret, params). */
  home: string;
  target: string;
  secretBase: string;
  /** Labels that put a namespace in the target. */
  namespaceLabels: Record<string, string>;
  webhookConfiguration?: string | undefined;
  /** The webhook's name in its configuration (the API server's metrics label). */
  webhookName: string;
  webhookPort?: number | undefined;
  policy?: string | undefined;
  scheduler: ReturnType<typeof spawnCli>;
  /** Stops the scheduler (SIGTERM) and waits for it. */
  stopScheduler(): Promise<void>;
  /** Stops the scheduler and removes every object this rotator made or was given. */
  stop(): Promise<void>;
}

export interface RotatorOptions {
  /** Extra scheduler arguments (e.g. a short certificate lifetime). */
  args?: string[];
  exclude?: string[];
  /** rotation.healPods: the scheduler runs the healer on its pod watch. */
  healPods?: boolean;
  /** Called once the scheduler runs, before the wait for the admission part to inject (e.g. set a caBundle). */
  beforeProbe?: ((webhookConfiguration: string | undefined) => void) | undefined;
}

/** A namespace covered by the target, where a dry-run pod shows whether the admission part injects yet. */
async function probeInjects(ns: string, secretBase: string): Promise<true | undefined> {
  const p = await api().createNamespacedPod({
    namespace: ns,
    dryRun: 'All',
    body: {
      metadata: { name: 'probe' },
      spec: { containers: [{ name: 'c', image: 'registry.example/app:1' }] },
    },
  });
  return (p.spec?.imagePullSecrets ?? []).some((s) => (s.name ?? '').startsWith(`${secretBase}-`))
    ? true
    : undefined;
}

export async function startRotator(
  mode: AdmissionMode,
  sfx: string,
  o: RotatorOptions = {},
): Promise<Rotator> {
  const home = `fph-${sfx}`;
  const probe = `fpp-${sfx}`;
  const target = `fp${sfx}`;
  const secretBase = `regcred-${sfx}`;
  const namespaceLabels = { fp: sfx };
  await api().createNamespace({ body: { metadata: { name: home } } });
  const w = new Workspace();
  useCreds(w, 1);
  w.writeConfig({
    stores: { local: { type: 'file', path: w.creds } },
    targets: [
      {
        name: target,
        store: 'local',
        registry: stack.registryBasic,
        credentials: { username: { key: 'user' }, password: { key: 'pass' } },
        secretName: secretBase,
        namespaces: { selector: `fp=${sfx}`, exclude: o.exclude ?? [] },
      },
    ],
    schedule: '0 3 1 1 *', // once a year: the watches, the webhook and the policy do the rest
    ...(o.healPods ? { rotation: { healPods: true } } : {}),
    metrics: { port: 0 },
    lock: { namespace: home, name: 'regcred-rotator' },
  });
  const args = ['--config', w.config, '--log-format', 'json', ...(o.args ?? [])];
  let webhookConfiguration: string | undefined;
  let webhookPort: number | undefined;
  let policy: string | undefined;
  if (mode === 'policy') {
    policy = `regcred-rotator-inject-${sfx}`;
    const [p] = manifests('policy');
    kubectlApply([{ ...p, metadata: { ...p!.metadata, name: policy } }]);
    args.push('--admission-policy', policy);
  }
  if (mode === 'webhook') {
    webhookConfiguration = `regcred-rotator-${sfx}`;
    webhookPort = await freePort();
    const [cfg] = manifests('webhook') as (Doc & { webhooks: Record<string, unknown>[] })[];
    kubectlApply([
      {
        ...cfg,
        metadata: { name: webhookConfiguration },
        webhooks: cfg!.webhooks.map((h) => ({
          ...h,
          name: webhookName(sfx),
          clientConfig: { url: `https://${env('REGCRED_STACK_IP')}:${webhookPort}/mutate` },
          namespaceSelector: { matchLabels: namespaceLabels },
        })),
      },
    ]);
    args.push(
      '--webhook',
      `${env('REGCRED_STACK_IP')}:${webhookPort}`,
      '--webhook-configuration',
      webhookConfiguration,
      '--webhook-hosts',
      env('REGCRED_STACK_IP'),
      '--webhook-tls-secret',
      'webhook-tls',
    );
  }
  const scheduler = spawnCli(args, /"msg":"run summary"/);
  await scheduler.seen;
  await api().createNamespace({ body: { metadata: { name: probe, labels: namespaceLabels } } });
  await waitFor(`the default ServiceAccount in ${probe}`, () =>
    api().readNamespacedServiceAccount({ namespace: probe, name: 'default' }),
  );
  o.beforeProbe?.(webhookConfiguration);
  if (mode !== 'baseline')
    await waitFor(
      `the ${mode} injecting (a dry-run pod in ${probe})`,
      () => probeInjects(probe, secretBase),
      60_000,
    );
  const stopScheduler = async () => {
    if (scheduler.child.exitCode === null) scheduler.child.kill('SIGTERM');
    await scheduler.closed;
  };
  return {
    mode,
    configFile: w.config,
    home,
    target,
    secretBase,
    namespaceLabels,
    webhookConfiguration,
    webhookName: webhookName(sfx),
    webhookPort,
    policy,
    scheduler,
    stopScheduler,
    async stop() {
      await stopScheduler();
      if (webhookConfiguration)
        kubectl('delete', 'mutatingwebhookconfiguration', webhookConfiguration, '--ignore-not-found');
      if (policy) {
        kubectl(
          'delete',
          'mutatingadmissionpolicybinding',
          '-l',
          `regcred-rotator.io/admission-policy=${policy}`,
        );
        kubectl('delete', 'mutatingadmissionpolicy', policy, '--ignore-not-found');
      }
      await deleteNamespaces([home, probe]);
    },
  };
}

/** The API server's own count of calls to one webhook, by outcome (`code rejected`), and its fail-open count. */
export function webhookCalls(name: string): { byOutcome: Record<string, number>; failOpen: number } {
  const r = kubectl('get', '--raw', '/metrics');
  if (r.code !== 0) throw new Error(`cannot read /metrics: ${r.stderr}`);
  const byOutcome: Record<string, number> = {};
  let failOpen = 0;
  for (const line of r.stdout.split('\n')) {
    if (!line.includes(`name="${name}"`)) continue;
    const n = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.startsWith('apiserver_admission_webhook_request_total{')) {
      const k = `${/code="([^"]*)"/.exec(line)?.[1] ?? '?'} rejected=${/rejected="([^"]*)"/.exec(line)?.[1] ?? '?'}`;
      byOutcome[k] = (byOutcome[k] ?? 0) + n;
    }
    if (line.startsWith('apiserver_admission_webhook_fail_open_count{')) failOpen += n;
  }
  return { byOutcome, failOpen };
}

/** The difference of two webhookCalls readings. */
export function callsSince(
  before: ReturnType<typeof webhookCalls>,
  after: ReturnType<typeof webhookCalls>,
): ReturnType<typeof webhookCalls> {
  const byOutcome: Record<string, number> = {};
  for (const [k, v] of Object.entries(after.byOutcome))
    if (v - (before.byOutcome[k] ?? 0) > 0) byOutcome[k] = v - (before.byOutcome[k] ?? 0);
  return { byOutcome, failOpen: after.failOpen - before.failOpen };
}

/** The certificate a TLS server presents now (its fingerprint). */
export function servedCertificate(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host, port, rejectUnauthorized: false }, () => {
      resolve(s.getPeerX509Certificate()?.fingerprint256 ?? '');
      s.end();
    });
    s.on('error', reject);
  });
}

/**
 * The healer (src/healer) run by the test, not by the scheduler (which runs it with rotation.healPods):
 * every second, the pending pods of the burst's namespaces go through Healer.podChanged, as a
 * watch's events would. Returns a stop function and what it deleted.
 */
export function driveHealer(r: Rotator, namespaces: readonly string[], signal: AbortSignal) {
  const log = createLogger({ level: 'silent' });
  const kube = connectKube({ kubeconfig: stack.kubeconfig, requestTimeoutMs: 10_000 });
  const gateway = new K8sGateway(kube.rest, log);
  const target = loadConfig(r.configFile).targets[0]!;
  const healer = new Healer(
    healerCluster({
      gateway,
      caller: [kube.rest, log],
      targets: [target],
      names: () => new Map([[target.name, { name: r.secretBase, serviceAccounts: target.serviceAccounts }]]),
    }),
    log,
  );
  const deleted: { pod: string; at: number }[] = [];
  const errors: string[] = [];
  const wanted = new Set(namespaces);
  const done = (async () => {
    while (!signal.aborted) {
      try {
        const l = await api().listPodForAllNamespaces({
          labelSelector: 'app=first-pod',
          fieldSelector: 'status.phase=Pending',
        });
        // Every pod at once, as a watch's events would each be handled as they come.
        await Promise.all(
          l.items
            .filter((p) => wanted.has(p.metadata?.namespace ?? ''))
            .map(async (p) => {
              // The client's Dates back to wire strings, reduced as the gateway's pod watch reduces them.
              const wire = JSON.parse(JSON.stringify(p)) as Parameters<typeof toPodState>[0];
              if ((await healer.podChanged(toPodState(wire))) === 'deleted')
                deleted.push({ pod: `${p.metadata?.namespace}/${p.metadata?.name}`, at: Date.now() });
            }),
        );
      } catch (e) {
        errors.push((e as Error).message);
      }
      await sleep(1000);
    }
    await kube.close();
  })();
  return { deleted, errors, done };
}

/** The API server's admission-latency histogram of one webhook: count, sum (s), cumulative buckets. */
export function webhookLatency(name: string): { count: number; sum: number; buckets: [number, number][] } {
  const out = { count: 0, sum: 0, buckets: [] as [number, number][] };
  for (const line of kubectl('get', '--raw', '/metrics').stdout.split('\n')) {
    if (
      !line.startsWith('apiserver_admission_webhook_admission_duration_seconds') ||
      !line.includes(`name="${name}"`)
    )
      continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.includes('_count{')) out.count += v;
    else if (line.includes('_sum{')) out.sum += v;
    else {
      const le = /le="([^"]*)"/.exec(line)?.[1] ?? '+Inf';
      out.buckets.push([le === '+Inf' ? Infinity : Number(le), v]);
    }
  }
  out.buckets.sort((a, b) => a[0] - b[0]);
  return out;
}

/** The smallest histogram bound under which a fraction `q` of the calls fell (between two readings). */
export function latencyQuantile(
  before: ReturnType<typeof webhookLatency>,
  after: ReturnType<typeof webhookLatency>,
  q: number,
): number | undefined {
  const total = after.count - before.count;
  for (const [le, n] of after.buckets) {
    const was = before.buckets.find((b) => b[0] === le)?.[1] ?? 0;
    if (total > 0 && n - was >= q * total) return le;
  }
  return undefined;
}
