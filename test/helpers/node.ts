/**
 * The stack's node as tests use it: namespaces whose pods may run there, pods pulling the private test
 * images, what the kubelet made of each pull, registry users that can be added and revoked, image variants
 * pushed through the registry API, and the kubelet restarted with another pull-credential policy.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { api, env, sleep, stack, waitFor } from './stack.ts';

/** Pods of namespaces carrying this annotation are scheduled on the node (PodNodeSelector, see up.sh). */
export const NODE_SELECTOR = { 'scheduler.alpha.kubernetes.io/node-selector': 'regcred-stack.io/node=true' };

export async function nodeNamespace(name: string, labels: Record<string, string> = {}): Promise<void> {
  await api().createNamespace({ body: { metadata: { name, labels, annotations: NODE_SELECTOR } } });
  await waitFor(`default ServiceAccount in ${name}`, () =>
    api().readNamespacedServiceAccount({ namespace: name, name: 'default' }),
  );
}

export type RegistryName = 'basic' | 'bearer';
export const registryOf = (r: RegistryName): string =>
  r === 'basic' ? stack.registryBasic : stack.registryBearer;
/** The private test image (busybox) in each registry. */
export const image = (r: RegistryName, tag = '1'): string => `${registryOf(r)}/regcred/busybox:${tag}`;

export interface PodOptions {
  images: string[];
  pullSecrets?: string[] | undefined;
  pullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  /** Default: run for an hour. */
  command?: string[];
  restartPolicy?: 'Always' | 'OnFailure' | 'Never';
  serviceAccount?: string;
  labels?: Record<string, string>;
}

/** A pod on the node; `pullSecrets` undefined lets the ServiceAccount admission copy the SA's list. */
export async function runPod(namespace: string, name: string, o: PodOptions): Promise<V1Pod> {
  return api().createNamespacedPod({
    namespace,
    body: {
      metadata: { name, labels: o.labels },
      spec: {
        serviceAccountName: o.serviceAccount,
        imagePullSecrets: o.pullSecrets?.map((n) => ({ name: n })),
        restartPolicy: o.restartPolicy ?? 'Always',
        dnsPolicy: 'Default',
        terminationGracePeriodSeconds: 0,
        automountServiceAccountToken: false,
        containers: o.images.map((img, i) => ({
          name: `c${i}`,
          image: img,
          imagePullPolicy: o.pullPolicy ?? 'IfNotPresent',
          command: o.command ?? ['sleep', '3600'],
        })),
      },
    },
  });
}

export const PULL_FAILURES = ['ErrImagePull', 'ImagePullBackOff'] as const;

/** What the kubelet made of a pod's images: every container started, or a container stuck on its pull. */
export type PullOutcome = { state: 'started' } | { state: 'failed'; reason: string; message: string };

export async function pullOutcome(namespace: string, name: string, timeoutMs = 60_000): Promise<PullOutcome> {
  return waitFor(
    `the pull outcome of ${namespace}/${name}`,
    async () => {
      const p = await api().readNamespacedPod({ namespace, name });
      const statuses = p.status?.containerStatuses ?? [];
      for (const s of statuses) {
        const w = s.state?.waiting;
        if (w?.reason && (PULL_FAILURES as readonly string[]).includes(w.reason))
          return { state: 'failed' as const, reason: w.reason, message: w.message ?? '' };
      }
      const n = p.spec?.containers.length ?? 0;
      if (statuses.length === n && statuses.every((s) => s.imageID)) return { state: 'started' as const };
      return undefined;
    },
    timeoutMs,
  );
}

export interface KubeletEvent {
  reason: string;
  message: string;
  type: string;
  count: number;
}

/** Events about one pod (the kubelet's among them), oldest first. */
export async function podEvents(namespace: string, name: string): Promise<KubeletEvent[]> {
  const l = await api().listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` });
  return l.items
    .sort((a, b) =>
      (a.metadata.resourceVersion ?? '').localeCompare(b.metadata.resourceVersion ?? '', 'en', {
        numeric: true,
      }),
    )
    .map((e) => ({
      reason: e.reason ?? '',
      message: e.message ?? '',
      type: e.type ?? '',
      count: e.count ?? 1,
    }));
}

/** A kubernetes.io/dockerconfigjson Secret written directly (what a user or the seed recipe does). */
export async function pullSecret(
  namespace: string,
  name: string,
  auths: Record<string, { username: string; password: string }> | string,
): Promise<void> {
  const doc =
    typeof auths === 'string'
      ? auths
      : JSON.stringify({
          auths: Object.fromEntries(
            Object.entries(auths).map(([r, c]) => [
              r,
              { ...c, auth: Buffer.from(`${c.username}:${c.password}`).toString('base64') },
            ]),
          ),
        });
  await api().createNamespacedSecret({
    namespace,
    body: {
      metadata: { name },
      type: 'kubernetes.io/dockerconfigjson',
      data: { '.dockerconfigjson': Buffer.from(doc).toString('base64') },
    },
  });
}

const REGISTRY_USER = resolve(import.meta.dirname, '../stack/registry-user.sh');

/** Users of the stack's registries (test/stack/registry-user.sh): revocation takes effect at the next login. */
export const registryUsers = {
  add(user: string, password: string): void {
    execFileSync('bash', [REGISTRY_USER, 'add', user], { input: `${password}\n` });
  },
  revoke(user: string): void {
    execFileSync('bash', [REGISTRY_USER, 'revoke', user]);
  },
};

async function registryAuth(registry: string, repo: string): Promise<string> {
  const basic = `Basic ${Buffer.from(`${stack.user}:${stack.password}`).toString('base64')}`;
  const challenge = (await fetch(`https://${registry}/v2/`)).headers.get('www-authenticate') ?? '';
  if (challenge.startsWith('Basic')) return basic;
  const param = (k: string) => new RegExp(`${k}="([^"]*)"`).exec(challenge)?.[1] ?? '';
  const url = `${param('realm')}?service=${encodeURIComponent(param('service'))}&scope=${encodeURIComponent(`repository:${repo}:pull,push`)}`;
  const t = (await (await fetch(url, { headers: { authorization: basic } })).json()) as { token: string };
  return `Bearer ${t.token}`;
}

/**
 * A new image in the private repository regcred/busybox: the base image with its own config (a label), so it
 * has its own image ID — a "not yet on the node" image for each test, pushed through the registry API.
 */
export async function imageVariant(r: RegistryName, tag: string): Promise<string> {
  const registry = registryOf(r);
  const repo = 'regcred/busybox';
  const auth = await registryAuth(registry, repo);
  const base = `https://${registry}/v2/${repo}`;
  const accept = 'application/vnd.oci.image.manifest.v1+json';
  const manifest = (await (
    await fetch(`${base}/manifests/1`, { headers: { authorization: auth, accept } })
  ).json()) as {
    config: { digest: string; size: number };
  };
  const config = (await (
    await fetch(`${base}/blobs/${manifest.config.digest}`, { headers: { authorization: auth } })
  ).json()) as {
    config: { Labels?: Record<string, string> };
  };
  config.config.Labels = { ...config.config.Labels, 'regcred-stack.io/variant': tag };
  const bytes = Buffer.from(JSON.stringify(config));
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const upload = await fetch(`${base}/blobs/uploads/`, { method: 'POST', headers: { authorization: auth } });
  const location = new URL(upload.headers.get('location') ?? '', `https://${registry}`);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, {
    method: 'PUT',
    headers: { authorization: auth, 'content-type': 'application/octet-stream' },
    body: bytes,
  });
  if (put.status !== 201) throw new Error(`pushing a config blob to ${registry}: HTTP ${put.status}`);
  manifest.config = { ...manifest.config, digest, size: bytes.length };
  const m = await fetch(`${base}/manifests/${tag}`, {
    method: 'PUT',
    headers: { authorization: auth, 'content-type': accept },
    body: JSON.stringify(manifest),
  });
  if (m.status !== 201) throw new Error(`pushing manifest ${tag} to ${registry}: HTTP ${m.status}`);
  return `${registry}/${repo}:${tag}`;
}

const NODE_SCRIPT = resolve(import.meta.dirname, '../stack/node/kubelet.sh');

/** Restarts the kubelet with another imagePullCredentialsVerificationPolicy and waits until the node is Ready. */
export function restartKubelet(policy: 'NeverVerifyPreloadedImages' | 'AlwaysVerify' | 'NeverVerify'): void {
  const r = spawnSync('bash', [NODE_SCRIPT, 'restart', policy], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`kubelet restart failed: ${r.stderr}`);
}

/**
 * Kills a pod's running container on the node (containerd's task, SIGKILL), as a crash would: the kubelet
 * starts it again — the first time at once, later ones after its crash-loop back-off (10 s, then doubling).
 */
export async function killContainer(namespace: string, pod: string): Promise<void> {
  const id = await waitFor(`a running container in ${namespace}/${pod}`, async () => {
    const s = (await api().readNamespacedPod({ namespace, name: pod })).status?.containerStatuses?.[0];
    return s?.state?.running ? s.containerID?.replace(/^containerd:\/\//, '') : undefined;
  });
  const r = spawnSync(
    'ctr',
    ['--address', env('REGCRED_STACK_CONTAINERD'), '-n', 'k8s.io', 'tasks', 'kill', '-s', 'KILL', id],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`ctr tasks kill ${id}: ${r.stderr}`);
}

/** The kubelet's own /metrics (client certificate of the stack admin). */
export async function kubeletMetrics(): Promise<string> {
  const r = spawnSync(
    'curl',
    [
      '-fsS',
      '--cacert',
      env('REGCRED_STACK_CA'),
      '--cert',
      join(stack.run, 'pki/admin.crt'),
      '--key',
      join(stack.run, 'pki/admin.key'),
      env('REGCRED_STACK_KUBELET_METRICS'),
    ],
    { encoding: 'utf8', maxBuffer: 64 << 20 },
  );
  if (r.status !== 0) throw new Error(`scraping the kubelet: ${r.stderr}`);
  return r.stdout;
}

export { sleep };
