/**
 * The first pod of a new namespace, in a burst: N namespaces, each created in the same `kubectl apply` as a
 * Deployment whose pods pull the stack's private image, all applies at once — what `helm install
 * --create-namespace`, an Argo CD application or a CI preview environment does. Measured after a fixed
 * time: which pods run, which sit in pull back-off, which were admitted without our secret, and every pull
 * the kubelet reported failed (its `Failed` pull Events, as test/node/zero-failed-pulls.test.ts counts them).
 *
 * Shared by the node test (test/node/first-pod.test.ts) and the bench (bench/first-pod.ts).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { AppsV1Api, type V1Pod } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { image, NODE_SELECTOR } from '../helpers/node.ts';
import {
  api,
  auditEvents,
  deleteNamespaces,
  env,
  kubeConfig,
  sleep,
  stack,
  waitFor,
} from '../helpers/stack.ts';

export interface BurstOptions {
  /** Namespace names: `<prefix>-000` … */
  prefix: string;
  namespaces: number;
  replicas: number;
  /** Labels of every namespace (the target's selector picks them up). */
  labels: Record<string, string>;
  /** When to take the count, from the moment the applies start. */
  observeAfterMs: number;
  /** Our secrets' base name: a pod names ours when a pull secret is `<base>` or `<base>-<10 hex>`. */
  secretBase: string;
  /** Called while the burst runs (e.g. to stop the webhook, or force a certificate renewal). */
  during?: (() => Promise<void>) | undefined;
}

export interface PodRecord {
  namespace: string;
  name: string;
  /** Created → every container started (s), from the API server's and the kubelet's timestamps. */
  startSeconds: number | undefined;
  running: boolean;
  /** Waiting in ErrImagePull / ImagePullBackOff at the count. */
  pullBackOff: boolean;
  namesOurs: boolean;
  pullSecrets: string[];
  /** kubelet `Failed` pull Events about this pod (their counts summed). */
  failedPulls: number;
  /** kubelet FailedToRetrieveImagePullSecret Events about this pod. */
  missingSecretEvents: number;
}

export interface BurstResult {
  namespaces: number;
  pods: number;
  running: number;
  /** Pods in pull back-off at the count: the stuck ones. */
  stuck: number;
  /** Pods admitted without any secret of ours. */
  withoutOurSecret: number;
  /** Every failed pull the kubelet reported (`Failed` Events about pulls, counts summed). */
  failedPulls: number;
  /** Pods with at least one failed pull. */
  podsWithFailedPulls: number;
  missingSecretEvents: number;
  /** Pods lost to the kubelet/node-authorizer race (KUBE-FACTS F14), counted apart. */
  authorizerRace: string[];
  /** Pods whose kubelet asked for their pull secret before it existed (an admitted name ahead of its Secret). */
  askedBeforeCreated: string[];
  /** Pod created → all containers started, for the pods that started (s). */
  startP50: number | undefined;
  startP99: number | undefined;
  applyErrors: string[];
  pods_: PodRecord[];
}

const RE_PULL = /pull|ErrImagePull|ImagePullBackOff|unauthorized|denied|401|403/i;

export const percentile = (xs: readonly number[], p: number): number | undefined =>
  xs.length === 0
    ? undefined
    : [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)];

/** One namespace and its Deployment, as one document stream for one `kubectl apply`. */
function manifest(ns: string, o: BurstOptions): string {
  const labels = { app: 'first-pod' };
  return [
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: ns, labels: o.labels, annotations: NODE_SELECTOR },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'app', namespace: ns },
      spec: {
        replicas: o.replicas,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            dnsPolicy: 'Default',
            terminationGracePeriodSeconds: 0,
            automountServiceAccountToken: false,
            containers: [
              {
                name: 'app',
                image: image('basic'),
                // Every pod pulls: a start proves the credentials it presented were accepted.
                imagePullPolicy: 'Always',
                command: ['sleep', '3600'],
              },
            ],
          },
        },
      },
    },
  ]
    .map((d) => stringify(d))
    .join('---\n');
}

function applyManifest(text: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = spawn(stack.kubectlBin, ['--kubeconfig', stack.kubeconfig, 'apply', '-f', '-'], {
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => resolve(code === 0 ? undefined : err.trim().slice(0, 300)));
    child.stdin.end(text);
  });
}

export const burstNamespaces = (o: Pick<BurstOptions, 'prefix' | 'namespaces'>): string[] =>
  Array.from({ length: o.namespaces }, (_, i) => `${o.prefix}-${String(i).padStart(3, '0')}`);

export const isOurs = (base: string, name: string): boolean =>
  name === base || new RegExp(`^${base}-[0-9a-f]{10}$`).test(name);

/** The applies, all at once; then, after `observeAfterMs`, the count. */
export async function runBurst(o: BurstOptions): Promise<BurstResult> {
  const names = burstNamespaces(o);
  const t0 = Date.now();
  const applied = Promise.all(names.map((ns) => applyManifest(manifest(ns, o))));
  const during = o.during?.();
  const applyErrors = (await applied).filter((e): e is string => e !== undefined);
  await during;
  await sleep(Math.max(0, t0 + o.observeAfterMs - Date.now()));
  return observe(names, o.secretBase, applyErrors);
}

function podRecord(p: V1Pod, base: string, failed: Map<string, number>, missing: Map<string, number>) {
  const ns = p.metadata?.namespace ?? '';
  const name = p.metadata?.name ?? '';
  const statuses = p.status?.containerStatuses ?? [];
  const started = statuses.map((s) => s.state?.running?.startedAt).filter((d) => d !== undefined);
  const created = p.metadata?.creationTimestamp;
  const running = p.status?.phase === 'Running' && statuses.length > 0 && started.length === statuses.length;
  const pullSecrets = (p.spec?.imagePullSecrets ?? []).map((r) => r.name ?? '');
  const key = `${ns}/${name}`;
  return {
    namespace: ns,
    name,
    startSeconds:
      running && created
        ? (Math.max(...started.map((d) => new Date(d).getTime())) - new Date(created).getTime()) / 1000
        : undefined,
    running,
    pullBackOff: statuses.some((s) =>
      ['ErrImagePull', 'ImagePullBackOff'].includes(s.state?.waiting?.reason ?? ''),
    ),
    namesOurs: pullSecrets.some((n) => isOurs(base, n)),
    pullSecrets,
    failedPulls: failed.get(key) ?? 0,
    missingSecretEvents: missing.get(key) ?? 0,
  } satisfies PodRecord;
}

/**
 * The kubelet's "Unable to retrieve pull secret" lines, per pod: when it asked, for which secret, and why not.
 * klog writes local time without a year.
 */
function pullSecretMisses(): Map<string, { at: number; secret: string; err: string }[]> {
  const out = new Map<string, { at: number; secret: string; err: string }[]>();
  const year = new Date().getFullYear();
  const text = readFileSync(env('REGCRED_STACK_KUBELET_LOG'), 'utf8');
  const re =
    /^I(\d\d)(\d\d) (\d\d):(\d\d):(\d\d)\.(\d+)[^\n]*"Unable to retrieve pull secret[^\n]*? pod="([^"]+)" secret="([^"]+)" err="([^\n]*)"/gm;
  for (const m of text.matchAll(re)) {
    const [, mo, d, h, mi, sec, frac, pod, secret, err] = m as unknown as string[];
    const at = new Date(
      year,
      Number(mo) - 1,
      Number(d),
      Number(h),
      Number(mi),
      Number(sec),
      Number(`0.${frac}`) * 1000,
    ).getTime();
    out.set(pod!, [...(out.get(pod!) ?? []), { at, secret: secret!, err: err! }]);
  }
  return out;
}

/**
 * Why a pod's kubelet went without a pull secret the pod names: it asked before the Secret was created (an
 * injected name ahead of its Secret: ours to count), or the Secret existed and the kubelet/node-authorizer
 * race refused it (KUBE-FACTS F14, counted apart, as test/node/zero-failed-pulls.test.ts does). The times
 * are the kubelet's log and the API server's audit log (microseconds).
 */
export function classifyMisses(): { race: Set<string>; early: Set<string> } {
  const misses = pullSecretMisses();
  const created = new Map<string, number>();
  for (const e of auditEvents())
    if (e.verb === 'create' && e.objectRef?.resource === 'secrets' && e.responseStatus?.code === 201)
      created.set(`${e.objectRef.namespace ?? ''}/${e.objectRef.name ?? ''}`, Date.parse(e.stageTimestamp));
  const race = new Set<string>();
  const early = new Set<string>();
  for (const [pod, ms] of misses)
    for (const m of ms) {
      const c = created.get(m.secret);
      if (c === undefined || m.at < c) early.add(pod);
      else if (m.err.startsWith('failed to sync secret cache')) race.add(pod);
    }
  for (const p of early) race.delete(p);
  return { race, early };
}

/** Counts what the burst left, namespace by namespace (pods, and the kubelet's Events about them). */
export async function observe(
  names: readonly string[],
  base: string,
  applyErrors: string[] = [],
): Promise<BurstResult> {
  const { race, early } = classifyMisses();
  const pods: PodRecord[] = [];
  for (const ns of names) {
    const failed = new Map<string, number>();
    const missing = new Map<string, number>();
    for (const e of (await api().listNamespacedEvent({ namespace: ns })).items) {
      if (e.involvedObject.kind !== 'Pod') continue;
      const key = `${ns}/${e.involvedObject.name ?? ''}`;
      if (e.reason === 'Failed' && RE_PULL.test(e.message ?? ''))
        failed.set(key, (failed.get(key) ?? 0) + (e.count ?? 1));
      if (e.reason === 'FailedToRetrieveImagePullSecret')
        missing.set(key, (missing.get(key) ?? 0) + (e.count ?? 1));
    }
    for (const p of (await api().listNamespacedPod({ namespace: ns })).items)
      if (!p.metadata?.deletionTimestamp) pods.push(podRecord(p, base, failed, missing));
  }
  const key = (p: PodRecord) => `${p.namespace}/${p.name}`;
  // A pod the race hit pulled without its secret: it counts apart only when that made its pull fail.
  const lost = (p: PodRecord) => race.has(key(p)) && (p.failedPulls > 0 || p.pullBackOff);
  const raced = pods.filter(lost);
  const counted = pods.filter((p) => !lost(p));
  const starts = counted.flatMap((p) => (p.startSeconds === undefined ? [] : [p.startSeconds]));
  return {
    namespaces: names.length,
    pods: pods.length,
    running: pods.filter((p) => p.running).length,
    stuck: counted.filter((p) => p.pullBackOff).length,
    withoutOurSecret: pods.filter((p) => !p.namesOurs).length,
    failedPulls: counted.reduce((n, p) => n + p.failedPulls, 0),
    podsWithFailedPulls: counted.filter((p) => p.failedPulls > 0).length,
    missingSecretEvents: counted.reduce((n, p) => n + p.missingSecretEvents, 0),
    authorizerRace: raced.map(key),
    askedBeforeCreated: pods.filter((p) => early.has(key(p))).map(key),
    startP50: percentile(starts, 50),
    startP99: percentile(starts, 99),
    applyErrors,
    pods_: pods,
  };
}

/**
 * Takes the burst off the node, then deletes its namespaces. The Deployments and their pods go first and
 * directly (grace 0): the namespace controller works through every namespace of the cluster in turn, and
 * a busy shared stack can leave a Terminating namespace's pods on the node for many minutes. Waits until
 * none of the burst's pods is left (the node is shared: the next burst must not find them there).
 */
export async function removeBurst(names: readonly string[], timeoutMs = 300_000): Promise<void> {
  const apps = kubeConfig().makeApiClient(AppsV1Api);
  await Promise.all(
    names.map(async (namespace) => {
      await apps.deleteNamespacedDeployment({ namespace, name: 'app' }).catch(() => undefined);
      await api()
        .deleteCollectionNamespacedPod({ namespace, labelSelector: 'app=first-pod', gracePeriodSeconds: 0 })
        .catch(() => undefined);
    }),
  );
  await deleteNamespaces(names);
  await waitFor(
    "the burst's pods gone",
    async () => {
      const left = (await api().listPodForAllNamespaces({ labelSelector: 'app=first-pod' })).items.filter(
        (p) => names.includes(p.metadata?.namespace ?? ''),
      );
      return left.length === 0 ? true : undefined;
    },
    timeoutMs,
  ).catch(() => undefined);
}

/** A one-line summary for logs and the bench table. */
export function describeBurst(r: BurstResult): string {
  return `${r.pods} pods in ${r.namespaces} namespaces: ${r.running} Running, ${r.stuck} stuck in pull back-off, ${r.withoutOurSecret} admitted without our secret, ${r.failedPulls} failed pulls (${r.podsWithFailedPulls} pods), ${r.missingSecretEvents} FailedToRetrieveImagePullSecret; start p50 ${r.startP50 ?? '-'} s, p99 ${r.startP99 ?? '-'} s${r.askedBeforeCreated.length ? `; ${r.askedBeforeCreated.length} pods' kubelet asked for the secret before it existed` : ''}${r.authorizerRace.length ? `; apart: ${r.authorizerRace.length} pods lost to the kubelet/node-authorizer race` : ''}${r.applyErrors.length ? `; ${r.applyErrors.length} apply errors (${r.applyErrors[0]})` : ''}`;
}
