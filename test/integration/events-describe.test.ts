/**
 * The rotator's Events as an operator finds them: `kubectl describe` selects an object's Events by its uid,
 * so each Event names the uid (and resourceVersion) of its object. After a rotation, `kubectl describe` of
 * the ServiceAccount and of our Secret shows `Rotated`; a failure attaches to the object that failed — a
 * ServiceAccount the API server refuses to change (a ValidatingAdmissionPolicy on that one name) — not to
 * the namespace's `default` ServiceAccount.
 */
import { stringify } from 'yaml';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileConfig, useCreds, Workspace } from '../helpers/rotator.ts';
import {
  api,
  createNamespace,
  deleteNamespaces,
  kubectl,
  managedSecrets,
  stack,
  suffix,
  waitFor,
} from '../helpers/stack.ts';

const sfx = suffix();
const ns = `ev-${sfx}`;
const broken = `evf-${sfx}`;
const policy = `regcred-test-ev-${sfx}`;

function apply(doc: unknown): void {
  const r = spawnSync(stack.kubectlBin, ['--kubeconfig', stack.kubeconfig, 'apply', '-f', '-'], {
    input: stringify(doc),
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(r.stderr);
}

/** Events of the object, as `kubectl describe` lists them: `Type  Reason  Age  From  Message` rows. */
function describedEvents(kind: string, name: string, namespace: string): string {
  const r = kubectl('describe', kind, name, '-n', namespace);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.slice(r.stdout.indexOf('\nEvents:'));
}

beforeAll(async () => {
  await createNamespace(ns);
  await createNamespace(broken, { 'regcred-test-ev': sfx });
  await api().createNamespacedServiceAccount({ namespace: broken, body: { metadata: { name: 'builder' } } });
  // The API server refuses every change to the ServiceAccount `builder` in that namespace.
  apply({
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name: policy },
    spec: {
      failurePolicy: 'Fail',
      matchConstraints: {
        resourceRules: [
          { apiGroups: [''], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['serviceaccounts'] },
        ],
      },
      matchConditions: [{ name: 'builder', expression: "object.metadata.name == 'builder'" }],
      validations: [{ expression: 'false', message: 'builder is frozen by its team' }],
    },
  });
  apply({
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: { name: policy },
    spec: {
      policyName: policy,
      validationActions: ['Deny'],
      matchResources: { namespaceSelector: { matchLabels: { 'regcred-test-ev': sfx } } },
    },
  });
  await waitFor('the policy to refuse a change to builder', async () =>
    kubectl('-n', broken, 'annotate', 'serviceaccount', 'builder', `probe=${Date.now()}`, '--overwrite')
      .code !== 0
      ? true
      : undefined,
  );
});
afterAll(async () => {
  kubectl('delete', 'validatingadmissionpolicybinding', policy, '--ignore-not-found');
  kubectl('delete', 'validatingadmissionpolicy', policy, '--ignore-not-found');
  await deleteNamespaces([ns, broken]);
});

describe('Events that kubectl describe shows', () => {
  it('Rotated on the repointed ServiceAccount and on the new Secret', async () => {
    const w = new Workspace();
    useCreds(w, 1);
    fileConfig(
      w,
      { name: 'ev', secretName: `ev-${sfx}`, namespaces: { names: [ns] } },
      { lock: { namespace: ns } },
    );
    const r = await w.rotate();
    expect(r.code, r.text).toBe(0);
    const [secret] = await managedSecrets(ns);
    expect(secret).toBeDefined();
    expect(describedEvents('serviceaccount', 'default', ns)).toMatch(
      new RegExp(`Normal\\s+Rotated\\s+.*regcred-rotator\\s+imagePullSecrets now use ${secret}`),
    );
    // kubectl's Secret describer prints no Events section for any Secret (upstream kubectl, seen here on
    // 1.37): the Event is found the way describe finds them elsewhere, by the object's uid.
    const described = kubectl('describe', 'secret', secret!, '-n', ns);
    expect(described.stdout).toContain(`Name:         ${secret}`);
    expect(described.stdout).not.toContain('Events:');
    const s = await api().readNamespacedSecret({ namespace: ns, name: secret! });
    const byUid = kubectl(
      'get',
      'events',
      '-n',
      ns,
      '--field-selector',
      `involvedObject.uid=${s.metadata?.uid}`,
    );
    expect(byUid.stdout).toMatch(
      new RegExp(`Normal\\s+Rotated\\s+secret/${secret}\\s+created for target ev`),
    );
    // The Events name the objects' uids and resourceVersions.
    const sa = await api().readNamespacedServiceAccount({ namespace: ns, name: 'default' });
    const ev = (await api().listNamespacedEvent({ namespace: ns })).items.find(
      (e) => e.reason === 'Rotated' && e.involvedObject.kind === 'ServiceAccount',
    );
    expect(ev?.involvedObject.uid).toBe(sa.metadata?.uid);
    expect(ev?.involvedObject.resourceVersion).toMatch(/^\d+$/);
  });

  it('RotationFailed on the object that failed, not on the default ServiceAccount', async () => {
    const w = new Workspace();
    useCreds(w, 1);
    fileConfig(
      w,
      {
        name: 'evf',
        secretName: `evf-${sfx}`,
        namespaces: { names: [broken] },
        serviceAccounts: ['builder', 'default'],
      },
      { lock: { namespace: broken } },
    );
    const r = await w.rotate();
    expect(r.code).toBe(1);
    expect(r.text).toContain('builder is frozen by its team');
    expect(describedEvents('serviceaccount', 'builder', broken)).toMatch(
      /Warning\s+RotationFailed\s+.*target evf: patch serviceaccounts .*builder is frozen by its team/,
    );
    expect(describedEvents('serviceaccount', 'default', broken)).not.toMatch(/RotationFailed/);
  });
});
