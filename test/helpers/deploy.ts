/**
 * Running deploy/ for real on the stack's node: the project's image (built from its Dockerfile by
 * test/stack/image/build.sh), a kustomize overlay in a temporary directory on top of the repository's
 * deploy/ (image, config, the stack's CA, a mounted credentials Secret), Jobs made from the CronJob.
 */
import { BatchV1Api } from '@kubernetes/client-node';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { stringify } from 'yaml';
import { NODE_SELECTOR } from './node.ts';
import { env, kubeConfig, kubectl, sleep, stack, waitFor } from './stack.ts';

export const ROOT = resolve(import.meta.dirname, '../..');

let built: string | undefined;
/** Builds and pushes the image (once per test process); its reference in the stack's private registry. */
export function projectImage(): string {
  if (built) return built;
  const r = spawnSync('bash', [join(ROOT, 'test/stack/image/build.sh')], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) throw new Error(`image build failed: ${r.stderr}`);
  built = r.stdout.trim().split('\n').pop() ?? '';
  return built;
}

export interface OverlayOptions {
  /** deploy/ (the CronJob) or deploy/overlays/scheduler. */
  base: 'deploy' | 'deploy/overlays/scheduler';
  /** Where it runs: a fresh namespace per test file, instead of deploy/'s regcred-rotator, so that no test
   * waits for an earlier one's namespace to finish deleting. */
  namespace: string;
  image: string;
  /** The rotator's config.yaml. */
  config: Record<string, unknown>;
  /** Keys of the Secret mounted at /etc/regcred-creds (the file store's directory). */
  creds: Record<string, string>;
  /** Extra JSON6902 / strategic-merge patches, as kustomize `patches` entries. */
  patches?: Record<string, unknown>[];
}

/**
 * A kustomization on top of the repository's deploy/ with only what this stack needs: its own namespace
 * (what an operator does with `namespace:`; the bindings' subjects follow), the image, the config, the
 * stack's CA (mounted; NODE_EXTRA_CA_CERTS), the credentials Secret, the namespace's opt-in to the stack's
 * node (PodNodeSelector), and image pulls on every start (so a pod start proves a pull).
 */
export function writeOverlay(o: OverlayOptions): string {
  const dir = mkdtempSync(join(tmpdir(), 'regcred-overlay-'));
  mkdirSync(join(dir, 'files'));
  writeFileSync(join(dir, 'files/config.yaml'), stringify(o.config));
  writeFileSync(join(dir, 'files/ca.crt'), spawnSync('cat', [env('REGCRED_STACK_CA')]).stdout);
  const workload = o.base === 'deploy' ? 'CronJob' : 'Deployment';
  const podSpec = {
    containers: [
      {
        name: 'regcred-rotator',
        imagePullPolicy: 'Always',
        env: [{ name: 'NODE_EXTRA_CA_CERTS', value: '/etc/regcred-ca/ca.crt' }],
        volumeMounts: [
          { name: 'stack-ca', mountPath: '/etc/regcred-ca', readOnly: true },
          { name: 'registry-creds', mountPath: '/etc/regcred-creds', readOnly: true },
        ],
      },
    ],
    volumes: [
      { name: 'stack-ca', configMap: { name: 'stack-ca' } },
      { name: 'registry-creds', secret: { secretName: 'registry-creds' } },
    ],
  };
  const workloadPatch =
    workload === 'CronJob'
      ? { spec: { jobTemplate: { spec: { backoffLimit: 0, template: { spec: podSpec } } } } }
      : { spec: { template: { spec: podSpec } } };
  const [name, tag] = splitRef(o.image);
  const kustomization = {
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    namespace: o.namespace,
    resources: [relative(dir, join(ROOT, o.base))], // kustomize takes no absolute roots
    images: [{ name: 'ghcr.io/example/regcred-rotator', newName: name, newTag: tag }],
    configMapGenerator: [
      {
        name: 'regcred-rotator-config',
        namespace: 'regcred-rotator', // the generated ConfigMap it replaces, before the namespace moves
        behavior: 'replace',
        files: ['config.yaml=files/config.yaml'],
      },
      {
        name: 'stack-ca',
        files: ['ca.crt=files/ca.crt'],
        options: { disableNameSuffixHash: true },
      },
    ],
    secretGenerator: [
      {
        name: 'registry-creds',
        literals: Object.entries(o.creds).map(([k, v]) => `${k}=${v}`),
        options: { disableNameSuffixHash: true },
      },
    ],
    patches: [
      {
        target: { kind: 'Namespace' },
        patch: JSON.stringify([{ op: 'add', path: '/metadata/annotations', value: NODE_SELECTOR }]),
      },
      ...['ClusterRoleBinding', 'RoleBinding'].map((kind) => ({
        target: { kind },
        patch: JSON.stringify([{ op: 'replace', path: '/subjects/0/namespace', value: o.namespace }]),
      })),
      {
        target: { kind: workload, name: 'regcred-rotator' },
        patch: stringify({
          apiVersion: workload === 'CronJob' ? 'batch/v1' : 'apps/v1',
          kind: workload,
          metadata: { name: 'regcred-rotator' },
          ...workloadPatch,
        }),
      },
      ...(o.patches ?? []),
    ],
  };
  writeFileSync(join(dir, 'kustomization.yaml'), stringify(kustomization));
  return dir;
}

function splitRef(ref: string): [string, string] {
  const i = ref.lastIndexOf(':');
  return [ref.slice(0, i), ref.slice(i + 1)];
}

export function apply(dir: string): void {
  const r = kubectl('apply', '-k', dir);
  if (r.code !== 0) throw new Error(`kubectl apply -k: ${r.stderr}`);
}

export interface JobResult {
  succeeded: boolean;
  logs: string;
  pod: string;
}

/** A Job made from the CronJob (what the schedule would start), run to its end. */
export async function runJob(
  name: string,
  where: { namespace: string; cronJob?: string },
  timeoutMs = 120_000,
): Promise<JobResult> {
  const ns = where.namespace;
  const c = kubectl('-n', ns, 'create', 'job', `--from=cronjob/${where.cronJob ?? 'regcred-rotator'}`, name);
  if (c.code !== 0) throw new Error(`create job: ${c.stderr}`);
  // Polled through the API client: a kubectl process ten times a second took a core from the node it waits on.
  const jobs = kubeConfig().makeApiClient(BatchV1Api);
  const status = await waitFor(
    `job ${name} to finish`,
    async () => {
      const j = await jobs.readNamespacedJobStatus({ namespace: ns, name });
      if (j.status?.succeeded) return true;
      if (j.status?.failed) return false;
      return undefined;
    },
    timeoutMs,
  );
  const pod = kubectl(
    '-n',
    ns,
    'get',
    'pods',
    '-l',
    `job-name=${name}`,
    '-o',
    'jsonpath={.items[0].metadata.name}',
  ).stdout;
  // The kubelet may still be flushing the container's log when the Job's status changes.
  await sleep(300);
  return { succeeded: status, logs: kubectl('-n', ns, 'logs', pod).stdout, pod };
}

/** The pod's events and status, for a failing assertion's message. */
export function describePod(pod: string, namespace: string): string {
  return kubectl('-n', namespace, 'describe', 'pod', pod).stdout;
}

export { stack };
