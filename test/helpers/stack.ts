/**
 * Access to the real test stack started by test/stack/up.sh (its env file is loaded by with-env.sh).
 * Tests talk to the API server with the admin kubeconfig, independently of the rotator's own client.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { CoreV1Api, KubeConfig, type V1ServiceAccount } from '@kubernetes/client-node';

export function env(name: string): string {
  const v = process.env[name];
  if (!v)
    throw new Error(
      `${name} is not set: run the integration tests through 'npm run test:integration' (the stack must be up)`,
    );
  return v;
}

export const stack = {
  get kubeconfig() {
    return env('KUBECONFIG');
  },
  get kubectlBin() {
    return env('REGCRED_STACK_KUBECTL');
  },
  get registryBasic() {
    return env('REGCRED_STACK_REGISTRY_BASIC');
  },
  get registryBearer() {
    return env('REGCRED_STACK_REGISTRY_BEARER');
  },
  get user() {
    return env('REGCRED_STACK_REGISTRY_USER');
  },
  get password() {
    return env('REGCRED_STACK_REGISTRY_PASSWORD');
  },
  get user2() {
    return env('REGCRED_STACK_REGISTRY_USER2');
  },
  get password2() {
    return env('REGCRED_STACK_REGISTRY_PASSWORD2');
  },
  get run() {
    return env('REGCRED_STACK_RUN');
  },
};

let core: CoreV1Api | undefined;
let kc: KubeConfig | undefined;
export function kubeConfig(): KubeConfig {
  if (!kc) {
    kc = new KubeConfig();
    kc.loadFromFile(stack.kubeconfig);
  }
  return kc;
}
export function api(): CoreV1Api {
  core ??= kubeConfig().makeApiClient(CoreV1Api);
  return core;
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function kubectl(...args: string[]): KubectlResult {
  return kubectlAt(stack.kubeconfig, ...args);
}

/** kubectl with another kubeconfig (the fleet's clusters: test/helpers/fleet.ts). */
export function kubectlAt(kubeconfig: string, ...args: string[]): KubectlResult {
  const r = spawnSync(stack.kubectlBin, ['--kubeconfig', kubeconfig, ...args], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export const suffix = (): string => randomBytes(3).toString('hex');
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/**
 * Creates a namespace and waits for the controller-manager to give it its `default` ServiceAccount. In the
 * main cluster unless `core` names another (test/helpers/fleet.ts).
 */
export async function createNamespace(
  name: string,
  labels: Record<string, string> = {},
  core: () => CoreV1Api = api,
): Promise<V1ServiceAccount> {
  await core().createNamespace({ body: { metadata: { name, labels } } });
  return waitFor(`default ServiceAccount in ${name}`, () =>
    core().readNamespacedServiceAccount({ namespace: name, name: 'default' }),
  );
}

export async function deleteNamespaces(names: readonly string[], core: () => CoreV1Api = api): Promise<void> {
  await Promise.all(
    names.map((name) =>
      core()
        .deleteNamespace({ name })
        .catch(() => undefined),
    ),
  );
}

/** Everything about pull secrets in some namespaces, with resourceVersions: "byte-for-byte unchanged" checks. */
export async function snapshotNamespaces(names: readonly string[]): Promise<string> {
  const parts: unknown[] = [];
  for (const namespace of [...names].sort()) {
    const secrets = await api().listNamespacedSecret({ namespace });
    const sas = await api().listNamespacedServiceAccount({ namespace });
    parts.push({
      namespace,
      secrets: secrets.items.map((s) => ({
        name: s.metadata?.name,
        rv: s.metadata?.resourceVersion,
        type: s.type,
        data: s.data,
        labels: s.metadata?.labels,
        annotations: s.metadata?.annotations,
      })),
      sas: sas.items.map((s) => ({
        name: s.metadata?.name,
        rv: s.metadata?.resourceVersion,
        pulls: s.imagePullSecrets,
      })),
    });
  }
  return JSON.stringify(parts, null, 1);
}

export async function pullSecretsOf(namespace: string, sa = 'default'): Promise<string[]> {
  const s = await api().readNamespacedServiceAccount({ namespace, name: sa });
  return (s.imagePullSecrets ?? []).map((r) => r.name ?? '');
}

export async function managedSecrets(namespace: string): Promise<string[]> {
  const l = await api().listNamespacedSecret({
    namespace,
    labelSelector: 'app.kubernetes.io/managed-by=regcred-rotator',
  });
  return l.items.map((s) => s.metadata?.name ?? '').sort();
}

/** A pod under a ServiceAccount; the admission plugin copies the SA's pull secrets into it (F2). */
export async function createPod(
  namespace: string,
  name: string,
  sa = 'default',
  image = 'registry.example/app:1',
): Promise<string[]> {
  const p = await api().createNamespacedPod({
    namespace,
    body: { metadata: { name }, spec: { serviceAccountName: sa, containers: [{ name: 'app', image }] } },
  });
  return (p.spec?.imagePullSecrets ?? []).map((r) => r.name ?? '');
}

/** The API server's own request counter (apiserver_request_total), summed by "VERB resource": the bench counts its requests with it. */
export async function apiserverRequests(): Promise<Map<string, number>> {
  const r = kubectl('get', '--raw', '/metrics');
  if (r.code !== 0) throw new Error(`cannot read /metrics: ${r.stderr}`);
  const out = new Map<string, number>();
  for (const line of r.stdout.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const verb = /verb="([^"]*)"/.exec(line)?.[1] ?? '';
    const resource = /resource="([^"]*)"/.exec(line)?.[1] ?? '';
    const n = Number(line.slice(line.lastIndexOf(' ') + 1));
    const k = `${verb} ${resource}`;
    out.set(k, (out.get(k) ?? 0) + n);
  }
  return out;
}

/** A TCP port nothing listens on (bound, then released). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** A kubeconfig that authenticates as a ServiceAccount with a TokenRequest token (as the pod would). */
export async function serviceAccountKubeconfig(
  namespace: string,
  name: string,
  file: string,
): Promise<string> {
  const token =
    (
      await api().createNamespacedServiceAccountToken({
        namespace,
        name,
        body: { spec: { expirationSeconds: 3600 } },
      })
    ).status?.token ?? '';
  const { writeFileSync } = await import('node:fs');
  writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{ name: stack, cluster: { server: "${env('REGCRED_STACK_APISERVER')}", certificate-authority: "${env('REGCRED_STACK_CA')}" } }]`,
      `users: [{ name: ${name}, user: { token: "${token}" } }]`,
      `contexts: [{ name: sa, context: { cluster: stack, user: ${name} } }]`,
      'current-context: sa',
      '',
    ].join('\n'),
  );
  return file;
}

/** Namespaces a test file creates (prefixed, labelled as asked) and deletes when done. */
export function testNamespaces(
  prefix: string,
  core: () => CoreV1Api = api,
): {
  make: (name: string, labels?: Record<string, string>) => Promise<string>;
  all: string[];
  cleanup: () => Promise<void>;
} {
  const all: string[] = [];
  return {
    all,
    make: async (name, labels = {}) => {
      const full = `${prefix}-${name}`;
      await createNamespace(full, labels, core);
      all.push(full);
      return full;
    },
    cleanup: () => deleteNamespaces(all, core),
  };
}

/** Sets a ServiceAccount's whole pull-secret list (read, then replace with its resourceVersion). */
export async function setServiceAccountPulls(
  namespace: string,
  names: string[],
  name = 'default',
): Promise<void> {
  const sa = await api().readNamespacedServiceAccount({ namespace, name });
  await api().replaceNamespacedServiceAccount({
    namespace,
    name,
    body: { ...sa, imagePullSecrets: names.map((n) => ({ name: n })) },
  });
}

/** Waits until no namespace is Terminating: the namespace controller's deletions would pollute request counts. */
export async function quiesce(): Promise<void> {
  await waitFor(
    'no Terminating namespaces',
    async () =>
      (await api().listNamespace()).items.some((n) => n.status?.phase === 'Terminating') ? undefined : true,
    600_000,
  );
}

/** One request as the API server's audit log recorded it (test/stack/up.sh: Metadata level). */
export interface AuditEvent {
  verb: string;
  userAgent: string;
  objectRef?: { resource?: string; namespace?: string; name?: string; subresource?: string };
  responseStatus?: { code?: number };
  requestReceivedTimestamp: string;
  stageTimestamp: string;
}

/**
 * The audit log's completed requests (microsecond timestamps, user agents), oldest first: the main
 * cluster's unless `file` names another's (test/helpers/fleet.ts).
 */
export function auditEvents(file = env('REGCRED_STACK_AUDIT_LOG')): AuditEvent[] {
  const text = readFileSync(file, 'utf8');
  const out: AuditEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    const e = JSON.parse(line) as AuditEvent & { stage?: string };
    if (e.stage === 'ResponseComplete') out.push(e);
  }
  return out;
}
