/**
 * deploy/ running for real: our image (built from the Dockerfile here), pulled by the node with a pull
 * secret the rotator itself manages, in a namespace that enforces Pod Security "restricted"; a Job made
 * from the CronJob rotates with in-cluster credentials (the `kubernetes` Service through kube-proxy),
 * logs in to OpenBao with its projected ServiceAccount token (reviewed by our API server), reads the file
 * store from a mounted Secret, pushes metrics, and takes its Lease in its own namespace by default.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { spawnSync } from 'node:child_process';
import { apply, describePod, projectImage, runJob, writeOverlay } from '../helpers/deploy.ts';
import { InCluster } from '../helpers/in-cluster.ts';
import { registryUsers } from '../helpers/node.ts';
import { api, env, kubectl, pullSecretsOf, sleep, stack, suffix } from '../helpers/stack.ts';

const NS = `rr-${suffix()}-cronjob`;
const c = new InCluster(NS, 'regcred-rotator');
let image = '';
let jobs = 0;
const overlay = (k: number) =>
  writeOverlay({ base: 'deploy', namespace: NS, image, config: c.config(), creds: c.creds(k) });
const job = () => runJob(`ic-${c.sfx}-${++jobs}`, { namespace: NS });
const lines = (logs: string) =>
  logs
    .trim()
    .split('\n')
    .filter((l) => l !== '');

beforeAll(async () => {
  image = projectImage();
  await c.setUp();
  apply(overlay(0));
  await c.bootstrapOwnPullSecret();
}, 600_000);

afterAll(async () => {
  await c.tearDown();
  kubectl(
    'delete',
    'clusterrole,clusterrolebinding,validatingadmissionpolicy,validatingadmissionpolicybinding',
    'regcred-rotator',
    '--ignore-not-found',
  );
});

describe('the CronJob in the cluster', () => {
  it('a Job from the CronJob rotates: restricted Pod Security, uid 65532, read-only root, JSON logs, metrics pushed, Lease at home', async () => {
    const j = await job();
    expect(j.succeeded, `${j.logs}\n${describePod(j.pod, NS)}`).toBe(true);
    // Every line the rotator wrote is one JSON object, the last a summary of a clean run.
    const parsed = lines(j.logs).map((l) => JSON.parse(l) as { msg?: string; exitCode?: number });
    expect(parsed.find((l) => l.msg === 'run summary')?.exitCode).toBe(0);
    // The rotation is in the cluster: every app namespace's default ServiceAccount names our secret.
    for (const ns of c.apps)
      expect(await pullSecretsOf(ns)).toEqual([expect.stringMatching(/^regcred-apps/)]);
    // The pod ran as the manifests say, admitted under an enforced "restricted" namespace.
    const labels = (await api().readNamespace({ name: NS })).metadata?.labels ?? {};
    expect(labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
    const pod = await api().readNamespacedPod({ namespace: NS, name: j.pod });
    expect(pod.spec?.securityContext?.runAsUser).toBe(65532);
    expect(pod.spec?.containers[0]?.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    // Its image came from the private registry with the pull secret the rotator manages for itself.
    expect(pod.spec?.imagePullSecrets?.map((s) => s.name)).toEqual([expect.stringMatching(/^regcred-self/)]);
    // The Lease is in the pod's own namespace (the config names no lock namespace).
    expect(kubectl('-n', NS, 'get', 'lease', 'regcred-rotator').code).toBe(0);
    // The Pushgateway has the run's metrics.
    const pushed = await (await fetch(`${env('REGCRED_STACK_PUSHGATEWAY')}/metrics`)).text();
    expect(pushed).toMatch(
      new RegExp(`regcred_rotator_last_success_timestamp_seconds\\{[^}]*job="regcred-rotator-${c.sfx}"`),
    );
  });

  it("rotates its own pull secret: after the old registry user is revoked, the next Job's pod still pulls", async () => {
    registryUsers.add(c.user(1), c.pass(1));
    apply(overlay(1));
    const rotate = await job();
    expect(rotate.succeeded, rotate.logs).toBe(true);
    const own = await pullSecretsOf(NS, 'regcred-rotator');
    expect(own).toHaveLength(1);
    // Rolled out: revoke the previous credential, as a security team would.
    registryUsers.revoke(c.user(0));
    const next = await job();
    expect(next.succeeded, `${next.logs}\n${describePod(next.pod, NS)}`).toBe(true);
    const pod = await api().readNamespacedPod({ namespace: NS, name: next.pod });
    expect(pod.spec?.imagePullSecrets?.map((s) => s.name)).toEqual(own);
    expect(pod.spec?.containers[0]?.imagePullPolicy).toBe('Always'); // the start was a real pull
  });

  it('with each RBAC rule removed in turn, the in-cluster run names the missing permission', async () => {
    const docs = parseAllDocuments(kubectl('kustomize', overlay(1)).stdout).map(
      (d) => d.toJS() as { kind: string; rules?: { resources: string[]; verbs: string[] }[] },
    );
    const rules = docs.find((d) => d.kind === 'ClusterRole')?.rules ?? [];
    expect(rules.map((r) => r.resources[0])).toEqual([
      'namespaces',
      'secrets',
      'serviceaccounts',
      'pods',
      'events',
    ]);
    let which: 1 | 2 = 1;
    for (let i = 0; i < rules.length; i++) {
      // New app credentials each time: a rotation exercises every verb (create, repoint, pods, delete, Events).
      which = which === 1 ? 2 : 1;
      await c.appCredentials(which);
      const role = {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        metadata: { name: 'regcred-rotator' },
        rules: rules.filter((_, k) => k !== i),
      };
      expect(kubectlIn(stringify(role), 'apply', '-f', '-').code).toBe(0);
      await sleep(300);
      const r = rules[i]!;
      const j = await job();
      const named = new RegExp(`cannot (${r.verbs.join('|')}) resource \\\\?"${r.resources[0]}\\\\?"`);
      // Events are best effort: the rotation completes and the missing permission is reported.
      expect(j.succeeded, `${r.resources[0]}: ${j.logs}`).toBe(r.resources[0] === 'events');
      expect(j.logs, r.resources[0]).toMatch(named);
    }
    // The lock Role: a run with something to write refuses to start, naming the Lease permission.
    await c.appCredentials(which === 1 ? 2 : 1);
    expect(kubectl('-n', NS, 'delete', 'rolebinding', 'regcred-rotator-lock').code).toBe(0);
    await sleep(300);
    const j = await job();
    expect(j.succeeded).toBe(false);
    expect(j.logs).toMatch(
      new RegExp(`cannot take the run lock \\(lease ${NS}/regcred-rotator\\): .*cannot get resource`),
    );
    apply(overlay(1));
    await sleep(300);
    const restored = await job();
    expect(restored.succeeded, restored.logs).toBe(true);
  });
});

function kubectlIn(input: string, ...args: string[]) {
  const r = spawnSync(stack.kubectlBin, ['--kubeconfig', stack.kubeconfig, ...args], {
    input,
    encoding: 'utf8',
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
