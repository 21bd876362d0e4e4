/**
 * deploy/overlays/scheduler running for real: the Deployment's pod passes the kubelet's probes on
 * /healthz, serves /metrics on its pod IP, reacts to a new namespace within seconds, and on SIGTERM (a
 * rollout or a drain) finishes the namespaces in flight and exits 0 within its grace period.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { apply, projectImage, writeOverlay } from '../helpers/deploy.ts';
import { InCluster } from '../helpers/in-cluster.ts';
import { nodeNamespace } from '../helpers/node.ts';
import {
  api,
  deleteNamespaces,
  kubectl,
  managedSecrets,
  pullSecretsOf,
  stack,
  suffix,
  waitFor,
} from '../helpers/stack.ts';

const NS = `rr-${suffix()}-scheduler`;
const c = new InCluster(NS, 'regcred-rotator');
const burst = Array.from({ length: 24 }, (_, i) => `ic-${c.sfx}-burst-${i}`);

/** The Deployment's current pod, once Ready (the readiness probe on /healthz passed). */
async function readyPod(not?: string): Promise<{ name: string; ip: string }> {
  return waitFor(
    'the scheduler pod to be Ready',
    async () => {
      const pods = await api().listNamespacedPod({
        namespace: NS,
        labelSelector: 'app.kubernetes.io/component=scheduler',
      });
      const p = pods.items.find(
        (x) =>
          x.metadata?.name !== not &&
          !x.metadata?.deletionTimestamp &&
          x.status?.conditions?.some((k) => k.type === 'Ready' && k.status === 'True'),
      );
      return p ? { name: p.metadata?.name ?? '', ip: p.status?.podIP ?? '' } : undefined;
    },
    180_000,
  );
}

beforeAll(async () => {
  const image = projectImage();
  await c.setUp();
  // A schedule far away: everything after the start-up pass is the watches' doing.
  const config = c.config({ schedule: '0 3 1 1 *', metrics: { port: 9095 } });
  apply(writeOverlay({ base: 'deploy/overlays/scheduler', namespace: NS, image, config, creds: c.creds(0) }));
  // The first pod was admitted before its ServiceAccount had a pull secret, and a pod's pull secrets are
  // fixed at admission: bootstrap, then restart it (what docs/operating.md tells an operator to do).
  await c.bootstrapOwnPullSecret();
  expect(kubectl('-n', NS, 'rollout', 'restart', 'deployment/regcred-rotator').code).toBe(0);
}, 600_000);

afterAll(async () => {
  await deleteNamespaces(burst);
  await c.tearDown();
  kubectl(
    'delete',
    'clusterrole,clusterrolebinding,validatingadmissionpolicy,validatingadmissionpolicybinding',
    'regcred-rotator',
    '--ignore-not-found',
  );
});

it('passes its probes, serves /metrics on the pod IP, and reacts to a new namespace within seconds', async () => {
  const pod = await readyPod();
  const metrics = await (await fetch(`http://${pod.ip}:9095/metrics`)).text();
  expect(metrics).toMatch(/regcred_rotator_watch_up\{resource="namespaces"\} 1/);
  expect((await fetch(`http://${pod.ip}:9095/healthz`)).status).toBe(200);
  for (const ns of c.apps)
    await waitFor(`${ns} provisioned`, async () => ((await pullSecretsOf(ns)).length ? true : undefined));
  const late = `ic-${c.sfx}-late`;
  burst.push(late);
  const t0 = Date.now();
  await nodeNamespace(late, c.label);
  await waitFor(
    'the new namespace provisioned',
    async () => ((await pullSecretsOf(late)).length ? true : undefined),
    10_000,
  );
  console.log(
    `[node] in-cluster scheduler: new namespace provisioned ${((Date.now() - t0) / 1000).toFixed(2)} s after its creation request`,
  );
  const restarts = (await api().readNamespacedPod({ namespace: NS, name: pod.name })).status
    ?.containerStatuses?.[0]?.restartCount;
  expect(restarts).toBe(0); // the liveness probe never failed
});

it('on SIGTERM finishes what is in flight, exits 0 within the grace period; no namespace is left half done', async () => {
  const pod = await readyPod();
  const logs: string[] = [];
  const follow = spawn(stack.kubectlBin, [
    '--kubeconfig',
    stack.kubeconfig,
    '-n',
    NS,
    'logs',
    '-f',
    pod.name,
  ]);
  follow.stdout.on('data', (d: Buffer) => logs.push(d.toString()));
  const ended = new Promise((r) => follow.on('close', r));
  // A burst of work, and the SIGTERM a rollout or a node drain sends as soon as the first namespace of the
  // burst is provisioned, while the others are being created and handled.
  const creating = Promise.all(burst.slice(0, -1).map((ns) => nodeNamespace(ns, c.label)));
  await waitFor(
    'the first namespace of the burst provisioned',
    async () => {
      for (const ns of burst.slice(0, -1)) if ((await pullSecretsOf(ns).catch(() => [])).length) return true;
      return undefined;
    },
    30_000,
  );

  // Scaled to zero rather than the pod deleted: no replacement starts converging while we look.
  const deleted = Date.now();
  expect(kubectl('-n', NS, 'scale', 'deployment/regcred-rotator', '--replicas=0').code).toBe(0);

  const terminated = await waitFor(
    'the old container to terminate',
    async () => {
      const p = await api()
        .readNamespacedPod({ namespace: NS, name: pod.name })
        .catch(() => undefined);
      return p?.status?.containerStatuses?.[0]?.state?.terminated;
    },
    90_000,
  );
  await ended;
  await creating;
  const text = logs.join('');
  const inFlight =
    /"namespaces":(\d+)[^\n]*"msg":"finished the convergences in flight"/.exec(text)?.[1] ?? '0';

  expect(terminated.exitCode, text).toBe(0);
  expect(text).toMatch(/"signal":"SIGTERM"/);
  expect(text).toMatch(/"msg":"stopped"/);
  expect((terminated.finishedAt?.getTime() ?? Infinity) - deleted).toBeLessThan(60_000);
  // At the moment it stopped, no namespace is half done: no ServiceAccount names a secret that is not
  // there, and every namespace where it wrote has its convergence logged as finished. (A namespace's
  // default ServiceAccount is created by the controller-manager a moment after the namespace: one
  // provisioned before it existed has our secret and no reference yet — the next pod adds it.)
  const counts = { done: 0, beforeTheirServiceAccount: 0, untouched: 0 };
  for (const ns of burst.slice(0, -1)) {
    const [secrets, pulls] = [await managedSecrets(ns), await pullSecretsOf(ns)];
    const ours = pulls.filter((n) => n.startsWith('regcred-apps'));
    for (const p of ours) expect(secrets, `${ns}: its ServiceAccount names ${p}`).toContain(p);
    expect(secrets.length, ns).toBeLessThanOrEqual(1);
    if (secrets.length === 0) counts.untouched++;
    else {
      expect(text, ns).toMatch(new RegExp(`"namespace":"${ns}"[^\\n]*"msg":"namespace converged"`));
      if (ours.length > 0) counts.done++;
      else counts.beforeTheirServiceAccount++;
    }
  }
  console.log(
    `[node] in-cluster scheduler: SIGTERM during a burst of ${burst.length - 1} namespaces: ${inFlight} convergences in flight finished after it; ${counts.done} done, ${counts.beforeTheirServiceAccount} provisioned before their ServiceAccount existed, ${counts.untouched} untouched, 0 half done; exit 0 within ${Math.max(1, Math.ceil((terminated.finishedAt!.getTime() - deleted) / 1000))} s (finishedAt has 1 s resolution)`,
  );

  // The next pod's start-up pass finishes the rest.
  expect(kubectl('-n', NS, 'scale', 'deployment/regcred-rotator', '--replicas=1').code).toBe(0);
  await readyPod(pod.name);

  for (const ns of burst.slice(0, -1))
    await waitFor(
      `${ns} provisioned by the new pod`,
      async () => ((await pullSecretsOf(ns)).length ? true : undefined),
      60_000,
    );
});
