/**
 * The ValidatingAdmissionPolicy that limits the rotator's writes (deploy/cluster) and the one Secret the
 * webhook component lets it write besides pull secrets — its own TLS Secret, by name — on the real API
 * server. The policy and its binding as deploy/overlays/scheduler-admission renders them (and, for the
 * control, as deploy/overlays/scheduler does, without the exception), renamed for this test and matching
 * this test's ServiceAccount only; that ServiceAccount holds what the overlay grants. The scheduler with
 * `--webhook`, as that ServiceAccount, creates its TLS Secret, replaces a garbled one and creates a deleted
 * one again under the policy; without the exception both the creation and a renewal are refused, the log
 * naming the policy's message; any other TLS Secret, and an Opaque one, written as the rotator are refused.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectlApply, manifests } from '../helpers/admission.ts';
import { kustomize, objects, ROOT, type Obj } from '../helpers/helm.ts';
import { spawnCli, useCreds, Workspace } from '../helpers/rotator.ts';
import {
  api,
  createNamespace,
  deleteNamespaces,
  env,
  freePort,
  kubectl,
  serviceAccountKubeconfig,
  stack,
  suffix,
  waitFor,
} from '../helpers/stack.ts';

const sfx = suffix();
const home = `wtp-${sfx}`; // the rotator's ServiceAccount, run Lease and TLS Secret
const user = `system:serviceaccount:${home}:rotator`;
const policyName = `wtp-${sfx}`;
const webhookConfig = `wtp-${sfx}`;
const TLS_SECRET = 'regcred-rotator-webhook-tls'; // the name the exception allows (the flag's default)
const SHIPPED_USER_MATCH =
  "request.userInfo.username.matches('^system:serviceaccount:[^:]+:regcred-rotator$')";
const PULL_ONLY =
  /denied request: the rotator may write only Secrets of type kubernetes.io\/dockerconfigjson(?!, and its webhook)/;
const PULL_OR_TLS =
  /denied request: the rotator may write only Secrets of type kubernetes.io\/dockerconfigjson, and its webhook's TLS Secret/;
const MANAGED = { 'app.kubernetes.io/managed-by': 'regcred-rotator' };

const withWebhook = objects(kubectl('kustomize', join(ROOT, 'deploy/overlays/scheduler-admission')).stdout);
const withoutWebhook = objects(kustomize({ resources: ['deploy/overlays/scheduler'] }));
const find = (docs: Obj[], kind: string, name = 'regcred-rotator') =>
  docs.find((d) => d.kind === kind && d.metadata.name === name)!;

/** The rendered policy and binding, renamed, for this test's ServiceAccount alone; applied over the last. */
async function installPolicy(docs: Obj[]): Promise<void> {
  const policy = find(docs, 'ValidatingAdmissionPolicy') as Obj & { spec: Record<string, unknown> };
  const binding = find(docs, 'ValidatingAdmissionPolicyBinding') as Obj & { spec: Record<string, unknown> };
  expect(policy.spec['matchConditions']).toEqual([{ name: 'the-rotator', expression: SHIPPED_USER_MATCH }]);
  kubectlApply([
    {
      ...policy,
      metadata: { name: policyName },
      spec: {
        ...policy.spec,
        matchConditions: [{ name: 'the-rotator', expression: `request.userInfo.username == '${user}'` }],
      },
    },
    { ...binding, metadata: { name: policyName }, spec: { ...binding.spec, policyName } },
  ]);
}

let kubeconfig = '';
/** kubectl as the test's ServiceAccount (its own token, as the pod's would be). */
function asRotator(input: string | undefined, ...args: string[]) {
  const r = spawnSync(stack.kubectlBin, ['--kubeconfig', kubeconfig, ...args], { input, encoding: 'utf8' });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}
function secret(name: string, type: string, namespace = home): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const data =
    type === 'kubernetes.io/dockerconfigjson'
      ? { '.dockerconfigjson': b64('{"auths":{}}') }
      : type === 'kubernetes.io/tls'
        ? { 'tls.crt': b64('not a certificate'), 'tls.key': b64('not a key') }
        : { k: b64('v') };
  return stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace, labels: MANAGED },
    type,
    data,
  });
}
/**
 * The API server compiles a changed policy a moment later: until an Opaque Secret (a server-side dry run)
 * is refused with the message of the policy installed last (the two messages differ).
 */
async function policyInForce(withException: boolean): Promise<void> {
  await waitFor(
    `the policy ${withException ? 'with' : 'without'} the exception in force`,
    async () => {
      const probe = asRotator(secret('probe', 'Opaque'), 'create', '--dry-run=server', '-f', '-');
      return (withException ? PULL_OR_TLS : PULL_ONLY).test(probe.out) ? true : undefined;
    },
    30_000,
  );
}

const w = new Workspace();
let port = 0;
/** The scheduler with the webhook, as the test's ServiceAccount. */
function scheduler(until: RegExp) {
  const s = spawnCli(
    [
      'scheduler',
      '--config',
      w.config,
      '--kubeconfig',
      kubeconfig,
      '--log-format',
      'json',
      '--webhook',
      `${env('REGCRED_STACK_IP')}:${port}`,
      '--webhook-configuration',
      webhookConfig,
      '--webhook-hosts',
      env('REGCRED_STACK_IP'),
    ],
    until,
  );
  const stop = async () => {
    if (s.child.exitCode === null) s.child.kill('SIGTERM');
    await s.closed;
    return s.stderr();
  };
  return { ...s, stop };
}
const tlsSecret = () => api().readNamespacedSecret({ namespace: home, name: TLS_SECRET });
const certOf = async () =>
  Buffer.from((await tlsSecret()).data?.['tls.crt'] ?? '', 'base64').toString('utf8');

beforeAll(async () => {
  await createNamespace(home);
  await api().createNamespacedServiceAccount({ namespace: home, body: { metadata: { name: 'rotator' } } });
  // What the overlay grants the rotator (the policy component's rules are left out: no --admission-policy).
  const subjects = [{ kind: 'ServiceAccount', name: 'rotator', namespace: home }];
  const docs: unknown[] = [];
  for (const [kind, name] of [
    ['ClusterRole', 'regcred-rotator'],
    ['ClusterRole', 'regcred-rotator-webhook'],
    ['Role', 'regcred-rotator-lock'],
  ] as const) {
    const rules = (find(withWebhook, kind, name)['rules'] as { resourceNames?: string[] }[]).map((r) =>
      r.resourceNames ? { ...r, resourceNames: [webhookConfig] } : r,
    );
    const metadata = { name: `${home}-${name}`, ...(kind === 'Role' ? { namespace: home } : {}) };
    docs.push(
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind, metadata, rules },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: `${kind}Binding`,
        metadata,
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind, name: metadata.name },
        subjects,
      },
    );
  }
  // The webhook configuration whose caBundle the rotator keeps; it selects no namespace here.
  const [cfg] = manifests('webhook') as unknown as (Obj & { webhooks: Record<string, unknown>[] })[];
  docs.push({
    ...cfg,
    metadata: { name: webhookConfig },
    webhooks: cfg!.webhooks.map((h) => ({
      ...h,
      name: `wtp-${sfx}.regcred-rotator.io`,
      clientConfig: { url: `https://${env('REGCRED_STACK_IP')}:1/mutate` },
      namespaceSelector: { matchLabels: { wtp: sfx } },
    })),
  });
  kubectlApply(docs);
  kubeconfig = await serviceAccountKubeconfig(home, 'rotator', join(w.dir, 'sa.kubeconfig'));
  port = await freePort();
  useCreds(w, 1);
  w.writeConfig({
    stores: { local: { type: 'file', path: w.creds } },
    targets: [
      {
        name: 'tls',
        store: 'local',
        registry: stack.registryBasic,
        credentials: { username: { key: 'user' }, password: { key: 'pass' } },
        secretName: `rc-${sfx}`,
        namespaces: { selector: `wtp=${sfx}` },
      },
    ],
    schedule: '0 3 1 1 *',
    metrics: { port: 0 },
    lock: { namespace: home, name: 'regcred-rotator' },
  });
});
afterAll(async () => {
  kubectl(
    'delete',
    'clusterrole,clusterrolebinding',
    `${home}-regcred-rotator`,
    `${home}-regcred-rotator-webhook`,
    '--ignore-not-found',
  );
  kubectl(
    'delete',
    'validatingadmissionpolicy,validatingadmissionpolicybinding,mutatingwebhookconfiguration',
    policyName,
    '--ignore-not-found',
  );
  await deleteNamespaces([home]);
});

describe("the rotator's writes under the policy, with the webhook's TLS Secret", () => {
  it('without the exception (the policy as deploy/overlays/scheduler ships it) the scheduler cannot create its TLS Secret: the log names the policy', async () => {
    await installPolicy(withoutWebhook);
    await policyInForce(false);
    const s = scheduler(PULL_ONLY);
    try {
      await Promise.race([s.seen, s.closed.then(() => s.until(PULL_ONLY, 1))]);
      expect(s.stderr()).toMatch(new RegExp(`ValidatingAdmissionPolicy '${policyName}'`));
      // Not sent to RBAC, which allows the write: the policy is what refused it.
      expect(s.stderr()).toMatch(/refused by an admission policy of the cluster, not by RBAC/);
      expect(s.stderr()).not.toMatch(/admission webhook listening/);
    } finally {
      await s.stop();
    }
    await expect(tlsSecret()).rejects.toThrow();
  });

  it('with it (deploy/overlays/scheduler-admission) the scheduler creates its TLS Secret, replaces a garbled one and creates a deleted one again', async () => {
    await installPolicy(withWebhook);
    await policyInForce(true);
    const s = scheduler(/admission webhook listening/);
    try {
      await s.seen;
      const created = await tlsSecret();
      expect(created.type).toBe('kubernetes.io/tls');
      expect(created.metadata?.labels).toMatchObject(MANAGED);
      const first = await certOf();
      expect(first).toMatch(/BEGIN CERTIFICATE/);

      const t0 = performance.now();
      const garbled = kubectl(
        '-n',
        home,
        'patch',
        'secret',
        TLS_SECRET,
        '--type=merge',
        '-p',
        JSON.stringify({ data: { 'tls.crt': Buffer.from('garbage').toString('base64') } }),
      );
      expect(garbled.code, garbled.stderr).toBe(0);
      const renewed = await waitFor(
        'a readable certificate again',
        async () => {
          const c = await certOf();
          return c.includes('BEGIN CERTIFICATE') ? c : undefined;
        },
        40_000,
      );
      const tRenew = (performance.now() - t0) / 1000;
      expect(renewed).not.toBe(first);

      const t1 = performance.now();
      expect(kubectl('-n', home, 'delete', 'secret', TLS_SECRET).code).toBe(0);
      const again = await waitFor(
        'the TLS Secret created again',
        async () => {
          const c = await certOf();
          return c.includes('BEGIN CERTIFICATE') ? c : undefined;
        },
        40_000,
      );
      expect(again).not.toBe(renewed);
      console.log(
        `[webhook-tls-policy] under the policy: garbled TLS Secret replaced in ${tRenew.toFixed(1)} s, deleted one created again in ${((performance.now() - t1) / 1000).toFixed(1)} s`,
      );
      expect(s.stderr()).toMatch(/renewing the webhook certificate/);
      expect(s.stderr()).not.toMatch(/denied request|forbidden|webhook certificate check failed/);
    } finally {
      await s.stop();
    }
  });

  it('without the exception a renewal is refused too (an update of the TLS Secret), named in the log', async () => {
    expect((await tlsSecret()).type).toBe('kubernetes.io/tls'); // left by the test above
    await installPolicy(withoutWebhook);
    await policyInForce(false);
    const s = scheduler(/admission webhook listening/);
    try {
      await s.seen; // a valid certificate: nothing to write
      const before = await certOf();
      expect(kubectl('-n', home, 'annotate', 'secret', TLS_SECRET, 'regcred-rotator.io/renew=now').code).toBe(
        0,
      );
      await s.until(/webhook certificate check failed; retrying/, 40_000);
      expect(s.stderr()).toMatch(PULL_ONLY);
      const after = await tlsSecret();
      expect(after.metadata?.annotations?.['regcred-rotator.io/renew']).toBe('now');
      expect(await certOf()).toBe(before);
    } finally {
      await s.stop();
    }
  });

  it('with it, any other Secret of type kubernetes.io/tls, and an Opaque one, written as the rotator are refused by the policy; a pull secret is not', async () => {
    await installPolicy(withWebhook);
    await policyInForce(true);
    const adminApply = (doc: string) =>
      spawnSync(stack.kubectlBin, ['--kubeconfig', stack.kubeconfig, 'apply', '-f', '-'], {
        input: doc,
        encoding: 'utf8',
      });
    expect(adminApply(secret('other-tls-existing', 'kubernetes.io/tls')).status).toBe(0);
    for (const r of [
      asRotator(secret('other-tls', 'kubernetes.io/tls'), 'create', '-f', '-'),
      asRotator(secret('opaque', 'Opaque'), 'create', '-f', '-'),
      asRotator(
        undefined,
        '-n',
        home,
        'patch',
        'secret',
        'other-tls-existing',
        '--type=merge',
        '-p',
        JSON.stringify({ data: { 'tls.crt': Buffer.from('changed').toString('base64') } }),
      ),
    ]) {
      expect(r.code, r.out).not.toBe(0);
      expect(r.out).toMatch(PULL_OR_TLS);
      expect(r.out).toMatch(new RegExp(`ValidatingAdmissionPolicy '${policyName}'`));
    }
    // The exception is by name: the policy cannot know the rotator's namespace (an overlay moves it), so
    // a TLS Secret of that name, labelled as ours, passes in any namespace (docs/admission.md says so).
    const e = asRotator(
      secret(TLS_SECRET, 'kubernetes.io/tls', 'default'),
      'create',
      '--dry-run=server',
      '-f',
      '-',
    );
    expect(e.code, e.out).toBe(0);
    // RBAC lets the rotator write any Secret: the policy is what refused them.
    expect(asRotator(undefined, 'auth', 'can-i', 'create', 'secrets', '-n', home).out.trim()).toBe('yes');
    const pull = asRotator(secret('pull', 'kubernetes.io/dockerconfigjson'), 'create', '-f', '-');
    expect(pull.code, pull.out).toBe(0);
    const names = (await api().listNamespacedSecret({ namespace: home })).items.map((x) => x.metadata?.name);
    expect(names).not.toContain('other-tls');
    expect(names).not.toContain('opaque');
  });
});
