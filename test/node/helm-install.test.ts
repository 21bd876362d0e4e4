/**
 * The Helm chart installed for real: `helm install` into a namespace that enforces Pod Security
 * "restricted", then a Job from the installed CronJob rotates (OpenBao with Kubernetes auth from the pod,
 * the file store from a mounted Secret), as the kustomize deployment does in in-cluster.test.ts. Its own
 * first pull uses a bootstrap pull secret given in the values (`imagePullSecrets`, the Kubernetes object
 * form); the stack's private CA is trusted through `trustedCA`. `helm test` runs `validate --online` in
 * the cluster; the Job's podFailurePolicy ends a run that exits 2 (bad config) or 4 (lock held) without a
 * retry.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchV1Api, CoordinationV1Api, V1MicroTime, type V1Job } from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { describePod, projectImage, ROOT, runJob } from '../helpers/deploy.ts';
import { InCluster } from '../helpers/in-cluster.ts';
import { nodeNamespace } from '../helpers/node.ts';
import { api, env, kubeConfig, kubectl, pullSecretsOf, stack, suffix, waitFor } from '../helpers/stack.ts';

const release = `rr-${suffix()}`;
const ns = `${release}-helm`;
const fullname = `${release}-regcred-rotator`;
const c = new InCluster(ns, fullname);

/** The in-cluster config, its OpenBao CA at trustedCA's path; `extra` is appended text (e.g. a schedule). */
function configText(extra = ''): string {
  const config = c.config() as { stores: { bao: Record<string, unknown> } };
  config.stores.bao['caFile'] = '/etc/regcred-rotator-ca/ca.crt';
  return `${stringify(config)}${extra}`;
}

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
    imagePullSecrets: [{ name: 'bootstrap' }],
    // The registries' and OpenBao's private CA: mounted and named by NODE_EXTRA_CA_CERTS by the chart.
    trustedCA: { configMap: 'stack-ca' },
    volumes: [{ name: 'registry-creds', secret: { secretName: 'registry-creds' } }],
    volumeMounts: [{ name: 'registry-creds', mountPath: '/etc/regcred-creds', readOnly: true }],
    config: configText(),
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

it('helm test runs validate --online in the cluster: every store reached, every registry login accepted', () => {
  const out = helm('test', release, '--namespace', ns, '--logs', '--timeout', '5m');
  expect(out).toMatch(/Phase:\s+Succeeded/);
  expect(out).toMatch(/config\.yaml: valid \(2 stores, 2 targets/);
  expect(out).toMatch(/store\s+bao\s+ok/);
  expect(out).toMatch(/registry\s+apps \S+\s+accepted/);
  expect(out).toMatch(/registry\s+self \S+\s+accepted/);
  expect(out).not.toContain(c.pass(0));
});

it('helm upgrade takes the schedule from the config and keeps the pull secret the rotator put on its own ServiceAccount', async () => {
  const before = await pullSecretsOf(ns, fullname);
  expect(before).toEqual([expect.stringMatching(/^regcred-self/)]);
  const f = join(mkdtempSync(join(tmpdir(), 'helm-upgrade-')), 'values.yaml');
  writeFileSync(f, stringify({ config: configText("schedule: '30 4 * * *'\n") }));
  helm(
    'upgrade',
    release,
    join(ROOT, 'deploy/helm/regcred-rotator'),
    '--namespace',
    ns,
    '--reuse-values',
    '-f',
    f,
    '--wait',
  );
  expect(kubectl('-n', ns, 'get', 'cronjob', fullname, '-o', 'jsonpath={.spec.schedule}').stdout).toBe(
    '30 4 * * *',
  );
  expect(await pullSecretsOf(ns, fullname)).toEqual(before);
});

/** A Job from the installed CronJob's template, with its config replaced by the ConfigMap `configMap`. */
async function jobWithConfig(name: string, configMap?: string): Promise<V1Job> {
  const cron = JSON.parse(kubectl('-n', ns, 'get', 'cronjob', fullname, '-o', 'json').stdout) as {
    spec: { jobTemplate: { spec: V1Job['spec'] } };
  };
  const spec = cron.spec.jobTemplate.spec!;
  if (configMap)
    for (const v of spec.template.spec!.volumes ?? [])
      if (v.name === 'config') v.configMap = { name: configMap };
  const jobs = kubeConfig().makeApiClient(BatchV1Api);
  await jobs.createNamespacedJob({ namespace: ns, body: { metadata: { name, namespace: ns }, spec } });
  return waitFor(
    `job ${name} to fail`,
    async () => {
      const j = await jobs.readNamespacedJobStatus({ namespace: ns, name });
      return j.status?.conditions?.some((x) => x.type === 'Failed' && x.status === 'True') ? j : undefined;
    },
    180_000,
  );
}

async function podsOf(job: string) {
  return (await api().listNamespacedPod({ namespace: ns, labelSelector: `job-name=${job}` })).items;
}

it('podFailurePolicy: a bad config (exit 2) fails the Job at once, without the retry backoffLimit allows', async () => {
  expect(
    kubectl('-n', ns, 'create', 'configmap', 'bad-config', '--from-literal=config.yaml=nope: 1').code,
  ).toBe(0);
  const name = `${release}-bad`;
  const j = await jobWithConfig(name, 'bad-config');
  expect(j.spec?.backoffLimit).toBe(1);
  expect(j.status?.conditions?.find((x) => x.type === 'Failed')?.reason).toBe('PodFailurePolicy');
  const pods = await podsOf(name);
  expect(pods).toHaveLength(1);
  expect(pods[0]?.status?.containerStatuses?.[0]?.state?.terminated?.exitCode).toBe(2);
});

it('podFailurePolicy: a lock another run holds (exit 4) fails the Job at once', async () => {
  // Something to write (new app credentials), so that the run needs the Lease another holder has now.
  await c.appCredentials(2);
  const leases = kubeConfig().makeApiClient(CoordinationV1Api);
  const cur = await leases.readNamespacedLease({ namespace: ns, name: 'regcred-rotator' });
  await leases.replaceNamespacedLease({
    namespace: ns,
    name: 'regcred-rotator',
    body: {
      ...cur,
      spec: {
        ...cur.spec,
        holderIdentity: 'another-run',
        leaseDurationSeconds: 600,
        renewTime: new V1MicroTime(),
      },
    },
  });
  const name = `${release}-locked`;
  const j = await jobWithConfig(name);
  expect(j.status?.conditions?.find((x) => x.type === 'Failed')?.reason).toBe('PodFailurePolicy');
  const pods = await podsOf(name);
  expect(pods).toHaveLength(1);
  expect(pods[0]?.status?.containerStatuses?.[0]?.state?.terminated?.exitCode).toBe(4);
});
