/**
 * The API server limits the rotator (deploy/cluster/admission-policy.yaml, a ValidatingAdmissionPolicy):
 * impersonating the rotator's ServiceAccount, which RBAC lets write any Secret and patch any
 * ServiceAccount, a write to a foreign Secret, a delete of one, a Secret labelled into or out of ours, and a
 * change to any ServiceAccount field but imagePullSecrets are refused; our own Secrets, imagePullSecrets,
 * Events and the Lease pass; other users are not affected; and a whole rotation (provision, rotate with a
 * pod keeping nothing, clean up) runs under the policy.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kustomize, objects } from '../helpers/helm.ts';
import { fileConfig, useCreds, Workspace } from '../helpers/rotator.ts';
import {
  createNamespace,
  createPod,
  deleteNamespaces,
  kubectl,
  managedSecrets,
  pullSecretsOf,
  serviceAccountKubeconfig,
  stack,
  suffix,
  waitFor,
} from '../helpers/stack.ts';

const sfx = suffix();
const home = `vap-${sfx}`; // where the rotator's ServiceAccount lives
const apps = `vap-${sfx}-apps`;
const rotator = `system:serviceaccount:${home}:regcred-rotator`;
const MANAGED = 'app.kubernetes.io/managed-by=regcred-rotator';
const REFUSED_SECRET =
  /the rotator may create, change and delete only Secrets labelled app.kubernetes.io\/managed-by=regcred-rotator/;
const REFUSED_SA = /the rotator may change only imagePullSecrets of a ServiceAccount/;

function k(input: string | undefined, ...args: string[]) {
  const r = spawnSync(stack.kubectlBin, ['--kubeconfig', stack.kubeconfig, ...args], {
    input,
    encoding: 'utf8',
  });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}
/** kubectl as the rotator's ServiceAccount (the admin may impersonate). */
const asRotator = (...args: string[]) => k(undefined, '--as', rotator, ...args);
const asRotatorIn = (input: string, ...args: string[]) => k(input, '--as', rotator, ...args);

function secret(name: string, labels: Record<string, string> = {}, type = 'kubernetes.io/dockerconfigjson') {
  const data =
    type === 'kubernetes.io/dockerconfigjson'
      ? { '.dockerconfigjson': Buffer.from('{"auths":{}}').toString('base64') }
      : { k: Buffer.from('v').toString('base64') };
  return stringify({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: apps, labels },
    type,
    data,
  });
}
const OWN = { 'app.kubernetes.io/managed-by': 'regcred-rotator' };

beforeAll(async () => {
  await createNamespace(home);
  await createNamespace(apps);
  expect(kubectl('-n', home, 'create', 'serviceaccount', 'regcred-rotator').code).toBe(0);
  // The shipped policy and the shipped rules, under names of this test's own (the deploy tests change the
  // ClusterRole regcred-rotator while they run).
  const docs = objects(kustomize({ resources: ['deploy'] }));
  // The policy and its binding under this test's name too, so that it leaves nothing behind.
  const keep = docs
    .filter((d) => d.kind.startsWith('ValidatingAdmissionPolicy'))
    .map((d) => ({
      ...d,
      metadata: { name: `vap-${sfx}` },
      ...(d.kind === 'ValidatingAdmissionPolicyBinding'
        ? { spec: { ...(d['spec'] as object), policyName: `vap-${sfx}` } }
        : {}),
    }));
  const role = docs.find((d) => d.kind === 'ClusterRole')!;
  const rbac = [
    { ...role, metadata: { name: `vap-${sfx}` } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: `vap-${sfx}` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `vap-${sfx}` },
      subjects: [{ kind: 'ServiceAccount', name: 'regcred-rotator', namespace: home }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'lock', namespace: home },
      rules: [
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'lock', namespace: home },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'lock' },
      subjects: [{ kind: 'ServiceAccount', name: 'regcred-rotator', namespace: home }],
    },
  ];
  const r = k([...keep, ...rbac].map((d) => stringify(d)).join('---\n'), 'apply', '-f', '-');
  expect(r.code, r.out).toBe(0);
  expect(k(secret('foreign', {}, 'Opaque'), 'apply', '-f', '-').code).toBe(0);
  // The policy takes effect once the API server has compiled it: until a foreign create is refused.
  await waitFor(
    'the admission policy to take effect',
    async () => {
      const probe = asRotatorIn(secret(`probe-${Date.now()}`), 'create', '-f', '-');
      return REFUSED_SECRET.test(probe.out) ? true : undefined;
    },
    30_000,
  );
});

afterAll(async () => {
  await deleteNamespaces([home, apps]);
  kubectl(
    'delete',
    'clusterrole,clusterrolebinding,validatingadmissionpolicy,validatingadmissionpolicybinding',
    `vap-${sfx}`,
    '--ignore-not-found',
  );
});

describe('Secrets', () => {
  it('refuses creating, changing and deleting a foreign Secret, even though RBAC allows them', () => {
    expect(asRotator('auth', 'can-i', 'delete', 'secrets', '-n', apps).out.trim()).toBe('yes');
    for (const r of [
      asRotatorIn(secret('mine-unlabelled'), 'create', '-f', '-'),
      asRotator(
        '-n',
        apps,
        'patch',
        'secret',
        'foreign',
        '--type=merge',
        '-p',
        '{"data":{".dockerconfigjson":"e30="}}',
      ),
      asRotator('-n', apps, 'delete', 'secret', 'foreign'),
      // Labelling a foreign Secret into ours is a change to a foreign Secret.
      asRotator('-n', apps, 'label', 'secret', 'foreign', MANAGED),
    ]) {
      expect(r.code, r.out).not.toBe(0);
      expect(r.out).toMatch(REFUSED_SECRET);
    }
    expect(kubectl('-n', apps, 'get', 'secret', 'foreign', '-o', 'jsonpath={.data.k}').stdout).toBe('dg==');
    expect(kubectl('-n', apps, 'get', 'secret', 'foreign', '-o', 'jsonpath={.metadata.labels}').stdout).toBe(
      '',
    );
  });

  it('lets it create, change and delete its own, but not take our label off one', () => {
    const created = asRotatorIn(secret('ours', OWN), 'create', '-f', '-');
    expect(created.code, created.out).toBe(0);
    const patched = asRotator(
      '-n',
      apps,
      'patch',
      'secret',
      'ours',
      '--type=merge',
      '-p',
      '{"data":{".dockerconfigjson":"e30="}}',
    );
    expect(patched.code, patched.out).toBe(0);
    const unlabel = asRotator('-n', apps, 'label', 'secret', 'ours', 'app.kubernetes.io/managed-by-');
    expect(unlabel.out).toMatch(REFUSED_SECRET);
    const del = asRotator('-n', apps, 'delete', 'secret', 'ours');
    expect(del.code, del.out).toBe(0);
  });

  it('refuses a labelled Secret of another type: a stolen token cannot mint a ServiceAccount token', () => {
    const token = stringify({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: 'minted',
        namespace: apps,
        labels: OWN,
        annotations: { 'kubernetes.io/service-account.name': 'default' },
      },
      type: 'kubernetes.io/service-account-token',
    });
    const r = asRotatorIn(token, 'create', '-f', '-');
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/the rotator may write only Secrets of type kubernetes.io\/dockerconfigjson/);
    expect(asRotatorIn(secret('opaque', OWN, 'Opaque'), 'create', '-f', '-').out).toMatch(
      /of type kubernetes.io\/dockerconfigjson/,
    );
  });

  it('does not limit other users', () => {
    const r = k(
      undefined,
      '-n',
      apps,
      'patch',
      'secret',
      'foreign',
      '--type=merge',
      '-p',
      '{"metadata":{"labels":{"x":"y"}}}',
    );
    expect(r.code, r.out).toBe(0);
  });
});

describe('ServiceAccounts', () => {
  const sa = (...args: string[]) =>
    asRotator('-n', apps, 'patch', 'serviceaccount', 'default', '--type=merge', '-p', ...args);
  it('lets it change imagePullSecrets only', async () => {
    await waitFor('the default ServiceAccount', async () =>
      kubectl('-n', apps, 'get', 'sa', 'default').code === 0 ? true : undefined,
    );
    const ok = sa('{"imagePullSecrets":[{"name":"regcred-x"}]}');
    expect(ok.code, ok.out).toBe(0);
    for (const patch of [
      '{"metadata":{"labels":{"team":"a"}}}',
      '{"metadata":{"annotations":{"team":"a"}}}',
      '{"automountServiceAccountToken":false}',
      '{"secrets":[{"name":"foreign"}]}',
      '{"imagePullSecrets":[{"name":"regcred-y"}],"automountServiceAccountToken":false}',
    ]) {
      const r = sa(patch);
      expect(r.code, patch).not.toBe(0);
      expect(r.out, patch).toMatch(REFUSED_SA);
    }
    expect(await pullSecretsOf(apps)).toEqual(['regcred-x']);
  });

  it('refuses creating or deleting one (RBAC refuses it too: the policy is the second lock)', () => {
    const r = asRotator('-n', apps, 'create', 'serviceaccount', 'new');
    expect(r.code).not.toBe(0);
  });
});

describe('what the policy leaves alone', () => {
  it('Events and the run Lease', () => {
    const event = stringify({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `probe.${sfx}`, namespace: apps },
      involvedObject: { kind: 'Secret', name: 'foreign', namespace: apps },
      reason: 'Probe',
      message: 'probe',
      type: 'Normal',
    });
    expect(asRotatorIn(event, 'create', '-f', '-').code).toBe(0);
    const lease = stringify({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'probe', namespace: home },
      spec: { holderIdentity: 'x' },
    });
    expect(asRotatorIn(lease, 'create', '-f', '-').code).toBe(0);
  });
});

describe('a whole rotation under the policy', () => {
  it('provisions, rotates with a pod, and cleans up, with no write refused', async () => {
    const ns = `vap-${sfx}-run`;
    await createNamespace(ns, { 'vap-run': sfx });
    await createPod(ns, 'pre-existing');
    const kubeconfig = await serviceAccountKubeconfig(
      home,
      'regcred-rotator',
      join(new Workspace().dir, 'sa.kubeconfig'),
    );
    const w = new Workspace();
    fileConfig(
      w,
      { name: 'vap', namespaces: { selector: `vap-run=${sfx}` } },
      {
        rotation: { retainSuperseded: '0' },
        lock: { namespace: home },
      },
    );
    useCreds(w, 1);
    const a = await w.rotate(['--kubeconfig', kubeconfig]);
    expect(a.code, a.text).toBe(0);
    useCreds(w, 2);
    const b = await w.rotate(['--kubeconfig', kubeconfig]);
    expect(b.code, b.text).toBe(0);
    expect(`${a.text}${b.text}`).not.toMatch(/denied|ValidatingAdmissionPolicy|forbidden/i);
    const secrets = await managedSecrets(ns);
    expect(secrets).toHaveLength(1);
    expect(await pullSecretsOf(ns)).toEqual(secrets);
    await deleteNamespaces([ns]);
  });
});
