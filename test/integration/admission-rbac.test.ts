/**
 * The admission components' RBAC is the minimum, rule by rule, verb by verb (as test/integration/deploy.test.ts
 * shows for the rest of deploy/): the scheduler runs as a ServiceAccount holding exactly what
 * deploy/overlays/scheduler-admission grants — renamed for this test, so that it never touches the shipped
 * objects — does what each verb is for, and, with that one verb taken away, names the missing permission.
 */
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectlApply, manifests } from '../helpers/admission.ts';
import { spawnCli, useCreds, Workspace } from '../helpers/rotator.ts';
import {
  api,
  deleteNamespaces,
  env,
  freePort,
  kubectl,
  serviceAccountKubeconfig,
  sleep,
  stack,
  suffix,
} from '../helpers/stack.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const sfx = suffix();
const home = `arb-${sfx}`;
const webhookConfig = `arb-${sfx}`;
const policy = `arb-${sfx}-inject`;
type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };
type Doc = { kind: string; metadata: { name: string }; rules?: Rule[] };

const rendered = parseAllDocuments(
  kubectl('kustomize', join(ROOT, 'deploy/overlays/scheduler-admission')).stdout,
).map((d) => d.toJS() as Doc);
const rulesOf = (kind: string, name: string) =>
  rendered.find((d) => d.kind === kind && d.metadata.name === name)?.rules ?? [];

/** The shipped rules, as this test's ClusterRoles and Roles, minus `without` (`verb resource`). */
function grant(without?: string): void {
  const drop = (rules: Rule[]) =>
    rules
      .map((r) => ({
        ...r,
        verbs: r.verbs.filter((v) => `${v} ${r.resources[0] ?? ''}` !== without),
        ...(r.resourceNames ? { resourceNames: r.resourceNames.map(() => webhookConfig) } : {}),
      }))
      .filter((r) => r.verbs.length > 0); // a rule of one verb goes with it
  const subject = [{ kind: 'ServiceAccount', name: 'rotator', namespace: home }];
  const docs: unknown[] = [];
  const pair = (kind: 'ClusterRole' | 'Role', name: string, rules: Rule[]) => {
    const meta = { name: `${home}-${name}`, ...(kind === 'Role' ? { namespace: home } : {}) };
    docs.push(
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind, metadata: meta, rules: drop(rules) },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: `${kind}Binding`,
        metadata: meta,
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind, name: meta.name },
        subjects: subject,
      },
    );
  };
  pair('ClusterRole', 'base', rulesOf('ClusterRole', 'regcred-rotator'));
  pair('ClusterRole', 'webhook', rulesOf('ClusterRole', 'regcred-rotator-webhook'));
  pair('ClusterRole', 'policy', rulesOf('ClusterRole', 'regcred-rotator-policy'));
  pair('Role', 'policy', rulesOf('Role', 'regcred-rotator-policy'));
  pair('Role', 'lock', rulesOf('Role', 'regcred-rotator-lock'));
  kubectlApply(docs);
}

let kubeconfig = '';
const w = new Workspace();
function config(targets: { name: string; selector: string; serviceAccounts?: string[] }[]): void {
  w.writeConfig({
    stores: { local: { type: 'file', path: w.creds } },
    targets: targets.map((t) => ({
      name: t.name,
      store: 'local',
      registry: stack.registryBasic,
      credentials: { username: { key: 'user' }, password: { key: 'pass' } },
      secretName: `rc-${t.name}`,
      namespaces: { selector: t.selector },
      serviceAccounts: t.serviceAccounts ?? ['default'],
    })),
    schedule: '0 3 1 1 *',
    metrics: { port: 0 },
    lock: { namespace: home, name: 'regcred-rotator' },
  });
}

/** The scheduler as the test's ServiceAccount, until its log says `until`; its log. */
async function schedulerUntil(args: string[], until: RegExp): Promise<string> {
  const s = spawnCli(
    ['scheduler', '--config', w.config, '--kubeconfig', kubeconfig, '--log-format', 'json', ...args],
    until,
  );
  try {
    await Promise.race([s.seen, s.closed.then(() => s.until(until, 1))]);
    return s.stderr();
  } catch (e) {
    throw new Error(`${(e as Error).message}; its log: ${s.stderr().slice(-1500)}`, { cause: e });
  } finally {
    if (s.child.exitCode === null) s.child.kill('SIGTERM');
    await s.closed;
  }
}
const forbidden = (verb: string, resource: string) =>
  new RegExp(`cannot ${verb} resource \\\\?"${resource}\\\\?"`);
const POLICY = ['--admission-policy', policy];
const synced = /admission policy params and bindings updated/;

beforeAll(async () => {
  await api().createNamespace({ body: { metadata: { name: home } } });
  await api().createNamespacedServiceAccount({ namespace: home, body: { metadata: { name: 'rotator' } } });
  grant();
  kubeconfig = await serviceAccountKubeconfig(home, 'rotator', join(w.dir, 'sa.kubeconfig'));
  useCreds(w, 1);
  const [p] = manifests('policy');
  const [cfg] = manifests('webhook') as unknown as (Record<string, unknown> & {
    webhooks: Record<string, unknown>[];
  })[];
  kubectlApply([
    { ...p, metadata: { name: policy } },
    {
      ...cfg,
      metadata: { name: webhookConfig },
      webhooks: cfg!.webhooks.map((h) => ({
        ...h,
        name: `arb-${sfx}.regcred-rotator.io`,
        clientConfig: { url: `https://${env('REGCRED_STACK_IP')}:1/mutate` },
        namespaceSelector: { matchLabels: { arb: sfx } },
      })),
    },
  ]);
});
afterAll(async () => {
  for (const k of ['clusterrole', 'clusterrolebinding'])
    kubectl('delete', k, `${home}-base`, `${home}-webhook`, `${home}-policy`, '--ignore-not-found');
  kubectl('delete', 'mutatingadmissionpolicybinding', '-l', `regcred-rotator.io/admission-policy=${policy}`);
  kubectl('delete', 'mutatingadmissionpolicy', policy, '--ignore-not-found');
  kubectl('delete', 'mutatingwebhookconfiguration', webhookConfig, '--ignore-not-found');
  await deleteNamespaces([home]);
});

describe('admission RBAC', () => {
  it('the webhook: get and patch on its own configuration (the caBundle), nothing else of its own', async () => {
    expect(rulesOf('ClusterRole', 'regcred-rotator-webhook')).toEqual([
      {
        apiGroups: ['admissionregistration.k8s.io'],
        resources: ['mutatingwebhookconfigurations'],
        resourceNames: ['regcred-rotator'],
        verbs: ['get', 'patch'],
      },
      { apiGroups: [''], resources: ['pods'], verbs: ['watch'] },
    ]);
    config([{ name: `a${sfx}`, selector: `arb=${sfx}` }]);
    const args = async () => [
      '--webhook',
      `${env('REGCRED_STACK_IP')}:${await freePort()}`,
      '--webhook-configuration',
      webhookConfig,
      '--webhook-hosts',
      env('REGCRED_STACK_IP'),
      '--webhook-tls-secret',
      'webhook-tls',
    ];
    expect(await schedulerUntil(await args(), /admission webhook listening/)).toMatch(
      /webhook caBundle updated/,
    );
    for (const verb of ['get', 'patch']) {
      kubectl('-n', home, 'delete', 'secret', 'webhook-tls', '--ignore-not-found');
      kubectl(
        'patch',
        'mutatingwebhookconfiguration',
        webhookConfig,
        '--type=json',
        '-p',
        '[{"op":"remove","path":"/webhooks/0/clientConfig/caBundle"}]',
      );
      grant(`${verb} mutatingwebhookconfigurations`);
      await sleep(300);
      await schedulerUntil(await args(), forbidden(verb, 'mutatingwebhookconfigurations'));
    }
    grant();
  });

  it('the policy: list, get, create on first sync; update when a selection or a name changes; delete for a removed target — each verb named when missing', async () => {
    const t1 = { name: `p${sfx}`, selector: `arb=${sfx}` };
    const t2 = { name: `q${sfx}`, selector: `arbq=${sfx}` };
    const first = ['list', 'get', 'create'];
    for (const resource of ['configmaps', 'mutatingadmissionpolicybindings'])
      for (const verb of first) {
        kubectl('-n', home, 'delete', 'configmap', '-l', `regcred-rotator.io/admission-policy=${policy}`);
        kubectl(
          'delete',
          'mutatingadmissionpolicybinding',
          '-l',
          `regcred-rotator.io/admission-policy=${policy}`,
        );
        grant(`${verb} ${resource}`);
        await sleep(300);
        config([t1]);
        await schedulerUntil(POLICY, forbidden(verb, resource));
      }
    for (const resource of ['configmaps', 'mutatingadmissionpolicybindings']) {
      grant();
      await sleep(300);
      config([t1, t2]);
      await schedulerUntil(POLICY, synced);
      grant(`update ${resource}`);
      await sleep(300);
      config([{ ...t1, selector: `arb=${sfx},other`, serviceAccounts: ['default', 'builder'] }, t2]);
      await schedulerUntil(POLICY, forbidden('update', resource));
      grant(`delete ${resource}`);
      await sleep(300);
      config([t1]);
      await schedulerUntil(POLICY, forbidden('delete', resource));
    }
    grant();
    await sleep(300);
    config([t1]);
    expect(await schedulerUntil(POLICY, synced)).not.toMatch(/forbidden/);
  });

  it('either part: watch on pods (a pod admitted naming the secret a rotation was replacing), named when missing', async () => {
    config([{ name: `w${sfx}`, selector: `arb=${sfx}` }]);
    // The pod watch starts with the scheduler, before the first pass syncs the policy.
    expect(await schedulerUntil(POLICY, synced)).not.toMatch(/cannot watch pods/);
    grant('watch pods');
    await sleep(300);
    expect(await schedulerUntil(POLICY, /cannot watch pods: forbidden/)).toMatch(
      /grant \\"watch\\" on pods \(deploy\/components\/healer and the admission components do\)/,
    );
    grant();
  });
});
