/**
 * The Helm chart installed for real: `helm install` into a namespace that enforces Pod Security
 * "restricted", then a Job from the installed CronJob rotates (OpenBao with Kubernetes auth from the pod,
 * the file store from a mounted Secret), as the kustomize deployment does in in-cluster.test.ts. Its own
 * first pull uses a bootstrap pull secret given in the values (`imagePullSecrets`).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { describePod, projectImage, ROOT, runJob } from '../helpers/deploy.ts';
import { InCluster } from '../helpers/in-cluster.ts';
import { nodeNamespace } from '../helpers/node.ts';
import { env, kubectl, pullSecretsOf, stack, suffix } from '../helpers/stack.ts';

const release = `rr-${suffix()}`;
const ns = `${release}-helm`;
const fullname = `${release}-regcred-rotator`;
const c = new InCluster(ns, fullname);

function helm(...args: string[]): string {
  const r = spawnSync(env('REGCRED_STACK_HELM'), ['--kubeconfig', stack.kubeconfig, ...args], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`helm ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

beforeAll(async () => {
  const image = projectImage();
  // What an operator does before `helm install`: the namespace with its Pod Security level.
  await nodeNamespace(ns, {
    'pod-security.kubernetes.io/enforce': 'restricted',
    'pod-security.kubernetes.io/warn': 'restricted',
  });
  await c.setUp();
  const k = (...a: string[]) => expect(kubectl('-n', ns, ...a).code).toBe(0);
  k(
    'create',
    'secret',
    'docker-registry',
    'bootstrap',
    `--docker-server=${stack.registryBasic}`,
    `--docker-username=${c.user(0)}`,
    `--docker-password=${c.pass(0)}`,
  );
  k('create', 'configmap', 'stack-ca', `--from-file=ca.crt=${env('REGCRED_STACK_CA')}`);
  k(
    'create',
    'secret',
    'generic',
    'registry-creds',
    `--from-literal=user=${c.user(0)}`,
    `--from-literal=pass=${c.pass(0)}`,
  );
  const values = {
    image: {
      repository: image.slice(0, image.lastIndexOf(':')),
      tag: image.slice(image.lastIndexOf(':') + 1),
      pullPolicy: 'Always',
    },
    imagePullSecrets: ['bootstrap'],
    env: [{ name: 'NODE_EXTRA_CA_CERTS', value: '/etc/regcred-ca/ca.crt' }],
    volumes: [
      { name: 'stack-ca', configMap: { name: 'stack-ca' } },
      { name: 'registry-creds', secret: { secretName: 'registry-creds' } },
    ],
    volumeMounts: [
      { name: 'stack-ca', mountPath: '/etc/regcred-ca', readOnly: true },
      { name: 'registry-creds', mountPath: '/etc/regcred-creds', readOnly: true },
    ],
    config: stringify(c.config()),
  };
  const f = join(mkdtempSync(join(tmpdir(), 'helm-install-')), 'values.yaml');
  writeFileSync(f, stringify(values));
  helm('install', release, join(ROOT, 'deploy/helm/regcred-rotator'), '--namespace', ns, '-f', f, '--wait');
}, 600_000);

afterAll(async () => {
  spawnSync(env('REGCRED_STACK_HELM'), [
    '--kubeconfig',
    stack.kubeconfig,
    'uninstall',
    release,
    '--namespace',
    ns,
  ]);
  await c.tearDown();
});

it('helm install, then a Job from the installed CronJob rotates', async () => {
  expect(helm('status', release, '--namespace', ns)).toMatch(/STATUS: deployed/);
  const j = await runJob(`${release}-1`, { namespace: ns, cronJob: fullname });
  expect(j.succeeded, `${j.logs}\n${describePod(j.pod, ns)}`).toBe(true);
  const summary = j.logs
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { msg?: string; exitCode?: number })
    .find((l) => l.msg === 'run summary');
  expect(summary?.exitCode).toBe(0);
  for (const app of c.apps)
    expect(await pullSecretsOf(app)).toEqual([expect.stringMatching(/^regcred-apps/)]);
  // The rotator now manages its own pull secret too; the Lease is in the release namespace.
  expect(await pullSecretsOf(ns, fullname)).toEqual([expect.stringMatching(/^regcred-self/)]);
  expect(kubectl('-n', ns, 'get', 'lease', 'regcred-rotator').code).toBe(0);
  const pushed = await (await fetch(`${env('REGCRED_STACK_PUSHGATEWAY')}/metrics`)).text();
  expect(pushed).toMatch(
    new RegExp(`regcred_rotator_last_success_timestamp_seconds\\{[^}]*job="regcred-rotator-${c.sfx}"`),
  );
});

it('helm upgrade keeps the pull secret the rotator put on its own ServiceAccount', async () => {
  const before = await pullSecretsOf(ns, fullname);
  expect(before).toEqual([expect.stringMatching(/^regcred-self/)]);
  helm(
    'upgrade',
    release,
    join(ROOT, 'deploy/helm/regcred-rotator'),
    '--namespace',
    ns,
    '--reuse-values',
    '--set',
    'schedule=30 4 * * *',
    '--wait',
  );
  expect(kubectl('-n', ns, 'get', 'cronjob', fullname, '-o', 'jsonpath={.spec.schedule}').stdout).toBe(
    '30 4 * * *',
  );
  expect(await pullSecretsOf(ns, fullname)).toEqual(before);
});
