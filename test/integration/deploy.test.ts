/**
 * deploy/ on the real API server: server-side dry runs of every kustomization and component,
 * least-privilege RBAC proven both ways (the deploy ServiceAccount does a full provision + rotation +
 * clean-up — under the admission policy deploy/ installs with it; with any one rule removed the run fails
 * naming the permission), the namespaced variant stays in its namespace, and the Pod Security
 * "restricted" level admits the CronJob's pod.
 */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kustomize } from '../helpers/helm.ts';
import { fileConfig, spawnCli, useCreds, Workspace } from '../helpers/rotator.ts';
import {
  api,
  createNamespace,
  createPod,
  deleteNamespaces,
  kubectl,
  managedSecrets,
  pullSecretsOf,
  serviceAccountKubeconfig,
  sleep,
  stack,
  suffix,
  waitFor,
} from '../helpers/stack.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const sfx = suffix();
const created: string[] = [];
afterAll(async () => {
  await deleteNamespaces(created);
  kubectl(
    'delete',
    'clusterrole,clusterrolebinding,validatingadmissionpolicy,validatingadmissionpolicybinding',
    'regcred-rotator',
    '--ignore-not-found',
  );
});

function kubectlIn(input: string, ...args: string[]) {
  const r = spawnSync(stack.kubectlBin, ['--kubeconfig', stack.kubeconfig, ...args], {
    input,
    encoding: 'utf8',
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
const render = (dir: string) => kubectl('kustomize', join(ROOT, dir)).stdout;

describe('deploy/ kustomizations', () => {
  beforeAll(async () => {
    // A server-side dry run cannot create the namespace its other objects go into; the real apply can.
    // (A previous run may still be deleting them: wait for that first.)
    for (const name of ['regcred-rotator', 'team-a']) {
      await waitFor(
        `namespace ${name} to be usable`,
        async () => {
          const ns = await api()
            .readNamespace({ name })
            .catch(() => undefined);
          if (ns?.status?.phase === 'Terminating') return undefined;
          if (!ns) kubectl('create', 'namespace', name);
          return true;
        },
        120_000,
      );
    }
    created.push('team-a');
  });
  it.each([
    'deploy',
    'deploy/overlays/scheduler',
    'deploy/overlays/scheduler-admission',
    'deploy/overlays/namespaced',
  ])('kubectl apply --dry-run=server -k %s succeeds', (dir) => {
    const r = kubectl('apply', '--dry-run=server', '-k', join(ROOT, dir));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/created \(server dry run\)/);
  });
  it('the components (trusted CA, workload identity) apply on deploy/ and the scheduler overlay (dry run)', () => {
    const id = {
      target: { kind: 'ServiceAccount', name: 'regcred-rotator' },
      patch: JSON.stringify([
        {
          op: 'replace',
          path: '/metadata/annotations/azure.workload.identity~1client-id',
          value: '11111111-2222-3333-4444-555555555555',
        },
      ]),
    };
    for (const base of ['deploy', 'deploy/overlays/scheduler']) {
      const out = kustomize({
        resources: [base],
        components: ['deploy/components/trusted-ca', 'deploy/components/azure-workload-identity'],
        patches: [id],
      });
      expect(out).toMatch(/NODE_EXTRA_CA_CERTS/);
      expect(out).toMatch(/azure.workload.identity\/use: "true"/);
      const r = kubectlIn(out, 'apply', '--dry-run=server', '-f', '-');
      expect(r.code, `${base}: ${r.stderr}`).toBe(0);
    }
  });
  it('the ClusterRole has no wildcards, no escalate/bind/impersonate, no watch', () => {
    const docs = parseAllDocuments(render('deploy')).map(
      (d) => d.toJS() as { kind: string; rules?: { verbs: string[]; resources: string[] }[] },
    );
    const rules = docs
      .filter((d) => d.kind === 'ClusterRole' || d.kind === 'Role')
      .flatMap((d) => d.rules ?? []);
    for (const r of rules) {
      expect(r.verbs).not.toContain('*');
      expect(r.resources).not.toContain('*');
      for (const v of ['escalate', 'bind', 'impersonate', 'watch', 'deletecollection'])
        expect(r.verbs).not.toContain(v);
    }
  });
});

describe('RBAC: the deploy ServiceAccount', () => {
  const fullRules = () =>
    (
      parseAllDocuments(render('deploy'))
        .map((d) => d.toJS() as Record<string, unknown>)
        .find((d) => d['kind'] === 'ClusterRole') as { rules: unknown[] }
    ).rules;
  let kubeconfig = '';
  beforeAll(async () => {
    const r = kubectl('apply', '-k', join(ROOT, 'deploy'));
    expect(r.code, r.stderr).toBe(0);
    kubeconfig = await serviceAccountKubeconfig(
      'regcred-rotator',
      'regcred-rotator',
      join(new Workspace().dir, 'sa.kubeconfig'),
    );
  });

  /** Provision, then rotate with a pod keeping nothing: create, repoint, read pods, delete — every verb. */
  async function fullCycle(tag: string): Promise<{ code: number; text: string; ns: string }> {
    const ns = `rbac-${sfx}-${tag}`;
    await createNamespace(ns, { 'rbac-test': ns });
    created.push(ns);
    await createPod(ns, 'pre-existing');
    const w = new Workspace();
    // A selector, so that the run needs "list namespaces" (a names-only config works without it).
    fileConfig(
      w,
      { name: 'rbac', namespaces: { selector: `rbac-test=${ns}` } },
      { rotation: { retainSuperseded: '0' } },
    );
    useCreds(w, 1);
    const a = await w.rotate(['--kubeconfig', kubeconfig]);
    if (a.code !== 0) return { code: a.code, text: a.text, ns };
    useCreds(w, 2);
    const b = await w.rotate(['--kubeconfig', kubeconfig]);
    return { code: b.code, text: `${a.text}\n${b.text}`, ns };
  }

  it('completes a full provision + rotation + clean-up with exactly the shipped permissions', async () => {
    const r = await fullCycle('full');
    expect(r.code, r.text).toBe(0);
    const secrets = await managedSecrets(r.ns);
    expect(secrets).toHaveLength(1);
    expect(await pullSecretsOf(r.ns)).toEqual(secrets);
    expect(r.text).not.toMatch(/forbidden/);
  });

  it('with any single ClusterRole rule removed, the run says which permission is missing', async () => {
    const rules = fullRules() as { resources: string[]; verbs: string[] }[];
    expect(rules.length).toBe(5);
    for (let i = 0; i < rules.length; i++) {
      const reduced = rules.filter((_, j) => j !== i);
      const role = {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        metadata: { name: 'regcred-rotator', labels: { 'app.kubernetes.io/name': 'regcred-rotator' } },
        rules: reduced,
      };
      expect(kubectlIn(stringify(role), 'apply', '-f', '-').code).toBe(0);
      await sleep(300);
      const resource = rules[i]!.resources[0]!;
      const r = await fullCycle(`no-${resource}`);
      const named = new RegExp(`cannot (${rules[i]!.verbs.join('|')}) resource "${resource}"`);
      if (resource === 'events') {
        // Events are best effort: the rotation completes and the missing permission is reported.
        expect(r.code, r.text).toBe(0);
      } else {
        expect(r.code, `${resource}: ${r.text}`).not.toBe(0);
      }
      expect(r.text, resource).toMatch(named);
    }
    expect(kubectl('apply', '-k', join(ROOT, 'deploy')).code).toBe(0);
  });

  it('scheduler mode adds "watch" exactly where it watches; without any one, the running scheduler names it', async () => {
    const rulesOf = (dir: string) =>
      (
        parseAllDocuments(render(dir))
          .map((d) => d.toJS() as Record<string, unknown>)
          .find((d) => d['kind'] === 'ClusterRole') as { rules: { resources: string[]; verbs: string[] }[] }
      ).rules;
    const sched = rulesOf('deploy/overlays/scheduler');
    const base = rulesOf('deploy');
    const added = sched.flatMap((r, i) =>
      r.verbs.filter((v) => !base[i]!.verbs.includes(v)).map((v) => `${v} ${r.resources.join(',')}`),
    );
    expect(added.sort()).toEqual(['watch namespaces', 'watch secrets', 'watch serviceaccounts']);
    const ns = `rbac-${sfx}-watch`;
    await createNamespace(ns, { 'rbac-test': ns });
    created.push(ns);
    for (const resource of ['namespaces', 'secrets', 'serviceaccounts']) {
      const rules = sched.map((r) =>
        r.resources.includes(resource) ? { ...r, verbs: r.verbs.filter((v) => v !== 'watch') } : r,
      );
      const role = {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        metadata: { name: 'regcred-rotator' },
        rules,
      };
      expect(kubectlIn(stringify(role), 'apply', '-f', '-').code).toBe(0);
      await sleep(300);
      const w = new Workspace();
      fileConfig(
        w,
        { name: 'rbac', namespaces: { selector: `rbac-test=${ns}` } },
        { schedule: '0 3 1 1 *', metrics: { port: 0 } },
      );
      useCreds(w, 1);
      const s = spawnCli(
        ['--config', w.config, '--kubeconfig', kubeconfig, '--log-format', 'json'],
        new RegExp(`cannot watch ${resource}: forbidden — grant \\W+watch\\W+ on ${resource}`),
      );
      await s.seen;
      s.child.kill('SIGTERM');
      await s.closed;
    }
    expect(kubectl('apply', '-k', join(ROOT, 'deploy')).code).toBe(0);
  });

  it('without the lock Role the run refuses to start, naming the Lease permission', async () => {
    expect(kubectl('-n', 'regcred-rotator', 'delete', 'rolebinding', 'regcred-rotator-lock').code).toBe(0);
    await sleep(300);
    const r = await fullCycle('no-lease');
    expect(r.code).toBe(1);
    expect(r.text).toMatch(
      /cannot take the run lock \(lease regcred-rotator\/regcred-rotator\): .*cannot get resource "leases"/,
    );
    expect(await managedSecrets(r.ns)).toEqual([]);
    expect(kubectl('apply', '-k', join(ROOT, 'deploy')).code).toBe(0);
  });
});

describe('the namespaced variant', () => {
  it('manages its own namespace and cannot touch another', async () => {
    const team = `team-${sfx}`;
    const other = `other-${sfx}`;
    await createNamespace(team);
    await createNamespace(other);
    created.push(team, other);
    const manifests = render('deploy/overlays/namespaced').replaceAll(
      'namespace: team-a',
      `namespace: ${team}`,
    );
    const applied = kubectlIn(manifests, 'apply', '-f', '-');
    expect(applied.code, applied.stderr).toBe(0);
    const kubeconfig = await serviceAccountKubeconfig(
      team,
      'regcred-rotator',
      join(new Workspace().dir, 'team.kubeconfig'),
    );
    const w = new Workspace();
    fileConfig(w, { name: 'team', namespaces: { names: [team, other] } }, { lock: { namespace: team } });
    useCreds(w, 1);
    const before = await api().readNamespacedServiceAccount({ namespace: other, name: 'default' });
    const r = await w.rotate(['--kubeconfig', kubeconfig]);
    expect(r.code).toBe(1);
    expect(r.summary?.['outcomes'], r.text).toEqual({ provisioned: 1, failed: 1 });

    expect(r.text, r.text).toMatch(
      new RegExp(
        `cannot list resource "(secrets|serviceaccounts)" in API group "" in the namespace "${other}"`,
      ),
    );
    expect(await managedSecrets(team)).toHaveLength(1);
    expect(await managedSecrets(other)).toEqual([]);
    expect(
      (await api().readNamespacedServiceAccount({ namespace: other, name: 'default' })).metadata
        ?.resourceVersion,
    ).toBe(before.metadata?.resourceVersion);
  });
});

describe('Pod Security "restricted"', () => {
  it('admits a Job and a Pod made from the CronJob template, and rejects a non-compliant control', async () => {
    const ns = `pss-${sfx}`;
    await createNamespace(ns, {
      'pod-security.kubernetes.io/enforce': 'restricted',
      'pod-security.kubernetes.io/warn': 'restricted',
    });
    created.push(ns);
    const docs = parseAllDocuments(render('deploy')).map((d) => d.toJS() as Record<string, unknown>);
    const cron = docs.find((d) => d['kind'] === 'CronJob') as {
      spec: { jobTemplate: { spec: { template: { spec: Record<string, unknown> } } } };
    };
    const podSpec = cron.spec.jobTemplate.spec.template.spec;
    kubectl('-n', ns, 'create', 'serviceaccount', 'regcred-rotator');
    const job = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'from-cronjob', namespace: ns },
      spec: cron.spec.jobTemplate.spec,
    };
    const j = kubectlIn(stringify(job), 'apply', '-f', '-');
    expect(j.code, j.stderr).toBe(0);
    expect(j.stderr).not.toMatch(/violate PodSecurity/);
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'from-template', namespace: ns },
      spec: podSpec,
    };
    const p = kubectlIn(stringify(pod), 'apply', '-f', '-');
    expect(p.code, p.stderr).toBe(0);
    const bad = {
      ...pod,
      metadata: { name: 'control', namespace: ns },
      spec: { ...podSpec, securityContext: { runAsNonRoot: false } },
    };
    const c = kubectlIn(stringify(bad), 'apply', '-f', '-');
    expect(c.code).not.toBe(0);
    expect(c.stderr).toMatch(/violates PodSecurity "restricted/);
  });
});
