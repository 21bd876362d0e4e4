/**
 * deploy/components/healer's RBAC, verb by verb (as admission-rbac.test.ts does for the admission
 * components): the rotator runs as a ServiceAccount holding exactly what deploy/overlays/scheduler with the
 * healer component grants — renamed for this test — heals a stuck pod with it, and with `delete pods` or
 * `watch pods` taken away leaves the pod stuck and names the missing permission.
 *
 * A stuck pod is a ReplicaSet's own pod, admitted before our entry reached its ServiceAccount. With no
 * kubelet here (PodNodeSelector keeps the stack's pods off its node) the failed pull is what a kubelet would
 * write: ErrImagePull in the pod's status, through the API server's status subresource. The ReplicaSet
 * (replicas 1) owns the pod as its controller, does not touch pod status, and replaces the deleted pod —
 * now with our secret, which the ServiceAccount admission plugin copies in.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectlApply } from '../helpers/admission.ts';
import { kustomize, objects } from '../helpers/helm.ts';
import { spawnCli, useCreds, Workspace } from '../helpers/rotator.ts';
import {
  api,
  createNamespace,
  deleteNamespaces,
  freePort,
  kubectl,
  pullSecretsOf,
  serviceAccountKubeconfig,
  sleep,
  stack,
  suffix,
  waitFor,
} from '../helpers/stack.ts';

const sfx = suffix();
const home = `hrb-${sfx}`; // the rotator's ServiceAccount and run Lease
type Rule = { apiGroups: string[]; resources: string[]; verbs: string[] };
type Role = { kind: string; metadata: { name: string }; rules?: Rule[] };

const render = (components: string[]) =>
  objects(kustomize({ resources: ['deploy/overlays/scheduler'], components })) as unknown as Role[];
const withHealer = render(['deploy/components/healer']);
const rulesOf = (docs: Role[], kind: string, name: string) =>
  docs.find((d) => d.kind === kind && d.metadata.name === name)?.rules ?? [];
const shipped = rulesOf(withHealer, 'ClusterRole', 'regcred-rotator');

/** The shipped rules as this test's ClusterRole and lock Role, minus `without` (`verb resource`). */
function grant(without?: string): void {
  const drop = (rules: Rule[]) =>
    rules.map((r) => ({ ...r, verbs: r.verbs.filter((v) => `${v} ${r.resources[0] ?? ''}` !== without) }));
  const subjects = [{ kind: 'ServiceAccount', name: 'rotator', namespace: home }];
  const docs: unknown[] = [];
  for (const [kind, rules] of [
    ['ClusterRole', shipped],
    ['Role', rulesOf(withHealer, 'Role', 'regcred-rotator-lock')],
  ] as const) {
    const metadata = { name: `${home}-rotator`, ...(kind === 'Role' ? { namespace: home } : {}) };
    docs.push(
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind, metadata, rules: drop(rules) },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: `${kind}Binding`,
        metadata,
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind, name: metadata.name },
        subjects,
      },
    );
  }
  kubectlApply(docs);
}

let kubeconfig = '';
const w = new Workspace();
function config(selector: string, metricsPort = 0): void {
  w.writeConfig({
    stores: { local: { type: 'file', path: w.creds } },
    targets: [
      {
        name: 'heal',
        store: 'local',
        registry: stack.registryBasic,
        credentials: { username: { key: 'user' }, password: { key: 'pass' } },
        secretName: `rc-${sfx}`,
        namespaces: { selector },
      },
    ],
    rotation: { healPods: true },
    schedule: '0 3 1 1 *',
    metrics: { port: metricsPort },
    lock: { namespace: home, name: 'regcred-rotator' },
  });
}

interface Pod {
  name: string;
  uid: string;
  pullSecrets: string[];
}
async function podsOf(ns: string, rs: string): Promise<Pod[]> {
  const l = await api().listNamespacedPod({ namespace: ns, labelSelector: `app=${rs}` });
  return l.items.map((p) => ({
    name: p.metadata?.name ?? '',
    uid: p.metadata?.uid ?? '',
    pullSecrets: (p.spec?.imagePullSecrets ?? []).map((s) => s.name ?? ''),
  }));
}

/** A ReplicaSet of one pod, which the controller-manager creates; that pod. */
async function replicaSetPod(ns: string, rs: string): Promise<Pod> {
  kubectlApply([
    {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: { name: rs, namespace: ns },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: rs } },
        template: {
          metadata: { labels: { app: rs } },
          spec: { containers: [{ name: 'app', image: `${stack.registryBasic}/private/app:1` }] },
        },
      },
    },
  ]);
  const [pod] = await waitFor(`the pod of ${ns}/${rs}`, async () => {
    const pods = await podsOf(ns, rs);
    return pods.length === 1 ? pods : undefined;
  });
  return pod!;
}

/** The pod's container waiting for `reason`, as the kubelet reports it (ErrImagePull: the pull failed). */
function podWaiting(ns: string, pod: string, reason: string): void {
  const status = {
    containerStatuses: [
      {
        name: 'app',
        image: `${stack.registryBasic}/private/app:1`,
        imageID: '',
        ready: false,
        started: false,
        restartCount: 0,
        state: { waiting: { reason, message: 'test: the status a kubelet writes' } },
      },
    ],
  };
  const r = kubectl(
    '-n',
    ns,
    'patch',
    'pod',
    pod,
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify({ status }),
  );
  if (r.code !== 0) throw new Error(`patch pod status: ${r.stderr}`);
}

/** The pod is gone, and its ReplicaSet's new one names our secret. */
async function replacedWithOurSecret(ns: string, rs: string, stuck: Pod): Promise<Pod> {
  const [secret] = await pullSecretsOf(ns);
  expect(secret).toMatch(new RegExp(`^rc-${sfx}-[0-9a-f]{10}$`));
  const [pod] = await waitFor(`a new pod of ${ns}/${rs}`, async () => {
    const pods = await podsOf(ns, rs);
    return pods.length === 1 && pods[0]!.uid !== stuck.uid ? pods : undefined;
  });
  expect(pod!.pullSecrets).toEqual([secret]);
  return pod!;
}

const forbidden = (verb: string, resource: string) =>
  new RegExp(`cannot ${verb} resource \\\\?"${resource}\\\\?"`);
const HEALED = /pod admitted without our pull secret deleted; its controller recreates it with the secret/;

beforeAll(async () => {
  await createNamespace(home);
  await api().createNamespacedServiceAccount({ namespace: home, body: { metadata: { name: 'rotator' } } });
  grant();
  kubeconfig = await serviceAccountKubeconfig(home, 'rotator', join(w.dir, 'sa.kubeconfig'));
  useCreds(w, 1);
});
afterAll(async () => {
  kubectl('delete', 'clusterrole,clusterrolebinding', `${home}-rotator`, '--ignore-not-found');
  await deleteNamespaces([home, `${home}-run`, `${home}-sched`]);
});

describe('the healer component', () => {
  it('adds delete and watch on pods to the scheduler overlay, nothing else; the test grants exactly that render', () => {
    const base = rulesOf(render([]), 'ClusterRole', 'regcred-rotator');
    const added = shipped.flatMap((r, i) =>
      r.verbs.filter((v) => !base[i]!.verbs.includes(v)).map((v) => `${v} ${r.resources.join(',')}`),
    );
    expect(added.sort()).toEqual(['delete pods', 'watch pods']);
    expect(shipped.map((r) => r.resources)).toEqual(base.map((r) => r.resources));
    const granted = JSON.parse(kubectl('get', 'clusterrole', `${home}-rotator`, '-o', 'json').stdout) as {
      rules: Rule[];
    };
    expect(granted.rules).toEqual(shipped);
  });
});

describe('after a --rotate-now run (rotation.healPods)', () => {
  it('delete pods: without it the delete of a stuck pod is refused and named (the run stands); with it the pod is deleted and comes back with our secret', async () => {
    const ns = `${home}-run`;
    await createNamespace(ns, { 'hrb-run': sfx });
    const stuck = await replicaSetPod(ns, 'app');
    expect(stuck.pullSecrets).toEqual([]);
    podWaiting(ns, stuck.name, 'ErrImagePull');
    config(`hrb-run=${sfx}`);

    grant('delete pods');
    await sleep(300);
    const refused = await w.rotate(['--kubeconfig', kubeconfig]);
    expect(refused.code, refused.text).toBe(0);
    expect(refused.text).toMatch(/pods not healed after the run: .*cannot delete resource "pods"/);
    expect(await pullSecretsOf(ns)).toHaveLength(1); // the rollout itself happened
    expect((await podsOf(ns, 'app')).map((p) => p.uid)).toEqual([stuck.uid]);

    grant();
    await sleep(300);
    const healed = await w.rotate(['--kubeconfig', kubeconfig]);
    expect(healed.code, healed.text).toBe(0);
    expect(healed.text).toMatch(HEALED);
    expect(healed.text).not.toMatch(/forbidden/);
    const report = healed.logs.find((l) => l['msg'] === 'pods healed after the run');
    expect(report?.['deleted']).toBe(1);
    await replacedWithOurSecret(ns, 'app', stuck);
  });
});

describe('scheduler mode (rotation.healPods)', () => {
  const ns = `${home}-sched`;
  let stuck: Pod;
  beforeAll(async () => {
    // Provisioned before any scheduler starts, so that no scheduler below repoints (and heals on that):
    // what each one deletes, its pod watch found.
    await createNamespace(ns, { 'hrb-sched': sfx });
    stuck = await replicaSetPod(ns, 'app');
    expect(stuck.pullSecrets).toEqual([]);
    config(`hrb-sched=${sfx}`);
    const r = await w.rotate(['--kubeconfig', kubeconfig]);
    expect(r.code, r.text).toBe(0);
    expect(await pullSecretsOf(ns)).toHaveLength(1);
  });

  /** The scheduler as the test's ServiceAccount; stopped by the returned function. */
  function scheduler(until: RegExp) {
    const s = spawnCli(
      ['scheduler', '--config', w.config, '--kubeconfig', kubeconfig, '--log-format', 'json'],
      until,
    );
    const stop = async () => {
      if (s.child.exitCode === null) s.child.kill('SIGTERM');
      await s.closed;
      return s.stderr();
    };
    return { ...s, stop };
  }

  it('watch pods: without it the scheduler names it, and a pull that fails while it runs is not healed', async () => {
    grant('watch pods');
    await sleep(300);
    // The watch's 403 carries no message of the API server's (its log says "HTTP 403"): the scheduler's
    // own line names the verb, the resource and where deploy/ grants it.
    const s = scheduler(
      /cannot watch pods: forbidden — grant \W+watch\W+ on pods \(deploy\/components\/healer and the admission components do\)/,
    );
    try {
      await s.seen;
      await s.until(/"msg":"run summary"/);
      podWaiting(ns, stuck.name, 'ErrImagePull');
      await sleep(5000); // with the watch, ~1 s (below)
      expect((await podsOf(ns, 'app')).map((p) => p.uid)).toEqual([stuck.uid]);
      expect(s.stderr()).not.toMatch(HEALED);
    } finally {
      await s.stop();
    }
  });

  it('delete pods: without it the delete of the stuck pod is refused and named; the pod stays', async () => {
    grant('delete pods');
    await sleep(300);
    const s = scheduler(/"msg":"run summary"/);
    try {
      await s.seen;
      // The kubelet's next try (its back-off), once the pass has said which secret the namespace should have.
      podWaiting(ns, stuck.name, 'ImagePullBackOff');
      await s.until(/healing a pod failed; its next event tries again/, 20_000);
      expect(s.stderr()).toMatch(forbidden('delete', 'pods'));
      expect(s.stderr()).not.toMatch(/cannot watch pods/);
      expect((await podsOf(ns, 'app')).map((p) => p.uid)).toEqual([stuck.uid]);
    } finally {
      await s.stop();
    }
  });

  it('with both: a pull that fails while the scheduler runs arrives by the watch, and the pod is deleted and comes back with our secret', async () => {
    podWaiting(ns, stuck.name, 'ContainerCreating');
    grant();
    await sleep(300);
    const port = await freePort();
    config(`hrb-sched=${sfx}`, port);
    const s = scheduler(/"msg":"run summary"/);
    try {
      await s.seen;
      // The pods listed: the watch follows from there, so the failure below arrives as an event.
      await waitFor('the pod watch up', async () => {
        const m = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        return /regcred_rotator_watch_up\{resource="pods"\} 1/.test(m) ? true : undefined;
      });
      const t0 = performance.now();
      podWaiting(ns, stuck.name, 'ErrImagePull');
      await s.until(HEALED, 20_000);
      const again = await replacedWithOurSecret(ns, 'app', stuck);
      console.log(
        `[healer-rbac] scheduler: stuck pod deleted and replaced ${((performance.now() - t0) / 1000).toFixed(2)} s after its failed pull (new pod ${again.name})`,
      );
      expect(s.stderr()).not.toMatch(/forbidden/);
    } finally {
      await s.stop();
    }
  });
});
