/**
 * The Helm chart (deploy/helm/regcred-rotator) and the kustomizations (deploy/) are two ways to the same
 * objects: for each mode and scope, and for each kustomize component against the value that matches it,
 * `helm template` renders exactly what `kubectl kustomize` renders, apart from Helm's own labels, the
 * config's checksum annotation, kustomize's content hash on the ConfigMap's name, the Namespace (Helm does
 * not create its release namespace) and, on the admission policy, its user match (exact in the chart, by
 * name in any namespace in kustomize, which cannot rewrite a namespace inside an expression) and the
 * namespace kustomize sets on it (not knowing the kind is cluster-scoped; kubectl drops it). `helm lint --strict`
 * passes, the values schema refuses wrong values at install, the API server accepts every rendering, and
 * two releases in one namespace do not select each other's pods.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parse, stringify } from 'yaml';
import type {
  V1ClusterRole,
  V1CronJob,
  V1Pod,
  V1ServiceAccount,
  V1ValidatingAdmissionPolicy,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CHART,
  helm,
  helmTry,
  kustomize,
  normalise,
  type Obj,
  objects,
  ROOT,
  template,
  valuesFile,
} from '../helpers/helm.ts';
import { api, createNamespace, deleteNamespaces, kubectl, stack, suffix, waitFor } from '../helpers/stack.ts';

interface Case {
  name: string;
  kustomization: { resources: string[]; components?: string[] } & Record<string, unknown>;
  namespace: string;
  values: Record<string, unknown>;
  /** Needs CRDs the stack does not have (Prometheus Operator): no server-side dry run. */
  crds?: boolean;
}
const namespacedConfig = readFileSync(join(ROOT, 'deploy/overlays/namespaced/config.yaml'), 'utf8');
const cases: Case[] = [
  {
    name: 'CronJob, cluster scope (deploy/)',
    kustomization: { resources: ['deploy'] },
    namespace: 'regcred-rotator',
    values: { image: { tag: '0.1.0' } },
  },
  {
    name: 'scheduler Deployment, cluster scope (deploy/overlays/scheduler)',
    kustomization: { resources: ['deploy/overlays/scheduler'] },
    namespace: 'regcred-rotator',
    values: { image: { tag: '0.1.0' }, mode: 'scheduler' },
  },
  {
    name: 'scheduler with the admission webhook and policy (deploy/overlays/scheduler-admission)',
    kustomization: { resources: ['deploy/overlays/scheduler-admission'] },
    namespace: 'regcred-rotator',
    values: {
      image: { tag: '0.1.0' },
      mode: 'scheduler',
      admission: { webhook: { enabled: true }, policy: { enabled: true } },
    },
  },
  {
    name: 'CronJob, namespaced (deploy/overlays/namespaced)',
    kustomization: { resources: ['deploy/overlays/namespaced'] },
    namespace: 'team-a',
    values: { image: { tag: '0.1.0' }, scope: 'namespaced', config: namespacedConfig },
  },
  {
    name: 'trusted CA: components/trusted-ca = trustedCA.configMap (CronJob)',
    kustomization: { resources: ['deploy'], components: ['deploy/components/trusted-ca'] },
    namespace: 'regcred-rotator',
    values: { image: { tag: '0.1.0' }, trustedCA: { configMap: 'regcred-rotator-trusted-ca' } },
  },
  {
    name: 'trusted CA and workload identity in scheduler mode',
    kustomization: {
      resources: ['deploy/overlays/scheduler'],
      components: ['deploy/components/trusted-ca', 'deploy/components/azure-workload-identity'],
      patches: [
        {
          target: { kind: 'ServiceAccount', name: 'regcred-rotator' },
          patch: JSON.stringify([
            {
              op: 'replace',
              path: '/metadata/annotations/azure.workload.identity~1client-id',
              value: '11111111-2222-3333-4444-555555555555',
            },
          ]),
        },
      ],
    },
    namespace: 'regcred-rotator',
    values: {
      image: { tag: '0.1.0' },
      mode: 'scheduler',
      trustedCA: { configMap: 'regcred-rotator-trusted-ca' },
      azure: { workloadIdentity: { clientId: '11111111-2222-3333-4444-555555555555' } },
    },
  },
  {
    name: 'monitoring: components/service-monitor + prometheus-rule = serviceMonitor + prometheusRule',
    kustomization: {
      resources: ['deploy/overlays/scheduler'],
      components: ['deploy/components/service-monitor', 'deploy/components/prometheus-rule'],
    },
    namespace: 'regcred-rotator',
    values: {
      image: { tag: '0.1.0' },
      mode: 'scheduler',
      serviceMonitor: { enabled: true },
      prometheusRule: { enabled: true },
    },
    crds: true,
  },
];

describe('the Helm chart', () => {
  it('passes helm lint --strict (values checked against values.schema.json)', () => {
    expect(helm('lint', '--strict', CHART)).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  it('its default config is deploy/config/config.yaml', () => {
    const chartValues = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as { config: string };
    expect(parse(chartValues.config)).toEqual(
      parse(readFileSync(join(ROOT, 'deploy/config/config.yaml'), 'utf8')),
    );
  });

  it('refuses a config given as a map (Helm would merge it with the example), an empty one, and bad YAML', () => {
    for (const [config, message] of [
      [{ targets: [] }, /config must be the text of config.yaml \(config: \|\), not a map/],
      ['', /config \(the text of config.yaml\) is empty/],
      ['targets: [', /config is not valid YAML/],
    ] as const) {
      const r = helmTry('template', 'regcred-rotator', CHART, '-f', valuesFile({ config }));
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(message);
    }
  });

  for (const c of cases)
    it(`renders the same objects as kustomize: ${c.name}`, () => {
      const fromHelm = normalise(template('regcred-rotator', c.namespace, c.values), c.namespace);
      const fromKustomize = normalise(objects(kustomize(c.kustomization)), c.namespace);
      expect([...fromHelm.keys()].sort()).toEqual([...fromKustomize.keys()].sort());
      for (const [k, v] of fromKustomize) expect(fromHelm.get(k), k).toEqual(v);
    });

  it('the API server accepts every rendering (server-side dry run)', () => {
    kubectl('create', 'namespace', 'regcred-rotator');
    kubectl('create', 'namespace', 'team-a');
    for (const c of cases.filter((x) => !x.crds)) {
      const out = helm(
        'template',
        'regcred-rotator',
        CHART,
        '--namespace',
        c.namespace,
        '--skip-tests',
        '-f',
        valuesFile(c.values),
      );
      const r = spawnSync(
        stack.kubectlBin,
        ['--kubeconfig', stack.kubeconfig, 'apply', '--dry-run=server', '-f', '-'],
        { input: out, encoding: 'utf8' },
      );
      expect(r.status, `${c.name}: ${r.stderr}`).toBe(0);
    }
  });
});

describe('the chart follows the ecosystem conventions', () => {
  // The rendered objects read through the API types (the YAML is their JSON form).
  const of = (docs: Obj[], kind: string): unknown => docs.find((d) => d.kind === kind);
  const cronJob = (docs: Obj[]) => of(docs, 'CronJob') as V1CronJob;
  const serviceAccount = (docs: Obj[]) => of(docs, 'ServiceAccount') as V1ServiceAccount;
  const cronPod = (docs: Obj[]) => cronJob(docs).spec.jobTemplate.spec!.template;

  it('the schedule comes from the config (one source): the CronJob reads schedule and timeZone from it', () => {
    const config = `${readFileSync(join(ROOT, 'deploy/config/config.yaml'), 'utf8')}\nschedule: '30 4 * * 1'\ntimeZone: Europe/Berlin\n`;
    const cron = cronJob(template('rr', 'ns', { config }));
    expect(cron.spec.schedule).toBe('30 4 * * 1');
    expect(cron.spec.timeZone).toBe('Europe/Berlin');
    // The old values are refused by the schema rather than silently ignored.
    const r = helmTry('template', 'rr', CHART, '--set', 'schedule=0 1 * * *');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/schedule/);
  });

  it('an image digest wins over the tag; imagePullSecrets take the Kubernetes object form', () => {
    const digest = `sha256:${'ab'.repeat(32)}`;
    const pod = cronPod(
      template('rr', 'ns', { image: { tag: '9.9.9', digest }, imagePullSecrets: [{ name: 'bootstrap' }] }),
    ).spec!;
    expect(pod.containers[0]!.image).toBe(`ghcr.io/example/regcred-rotator@${digest}`);
    expect(pod.imagePullSecrets).toEqual([{ name: 'bootstrap' }]);
  });

  it('workload identity is off by default (no client-id annotation, no pod label) and on with a client id', () => {
    const off = template('rr', 'ns', {});
    expect(serviceAccount(off).metadata).not.toHaveProperty('annotations');
    expect(JSON.stringify(off)).not.toMatch(/azure\.workload\.identity/);
    const id = '0c7b0c3e-1d55-4e8e-9a55-3f1d6a3f7c21';
    const on = template('rr', 'ns', { azure: { workloadIdentity: { clientId: id } } });
    expect(serviceAccount(on).metadata).toMatchObject({
      annotations: { 'azure.workload.identity/client-id': id },
    });
    expect(cronPod(on).metadata?.labels).toMatchObject({
      'azure.workload.identity/use': 'true',
    });
  });

  it('the Job fails at once, without a retry, on exit 2 (bad config) and 4 (lock held)', () => {
    const job = cronJob(template('rr', 'ns', {})).spec.jobTemplate.spec!;
    expect(job.podFailurePolicy).toEqual({
      rules: [
        {
          action: 'FailJob',
          onExitCodes: { containerName: 'regcred-rotator', operator: 'In', values: [2, 4] },
        },
      ],
    });
    expect(job.template.spec?.restartPolicy).toBe('Never');
  });

  it('names, labels, ServiceAccount, RBAC, security and scheduling are values', () => {
    const docs = template('rr', 'ns', {
      fullnameOverride: 'rotator',
      commonLabels: { team: 'platform' },
      serviceAccount: { create: false, name: 'existing' },
      rbac: { create: false },
      priorityClassName: 'system-cluster-critical',
      topologySpreadConstraints: [
        { maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway' },
      ],
      podSecurityContext: {
        runAsNonRoot: true,
        runAsUser: 1000,
        runAsGroup: 1000,
        seccompProfile: { type: 'RuntimeDefault' },
      },
    });
    expect(docs.map((d) => d.kind).sort()).toEqual([
      'ConfigMap',
      'CronJob',
      'ValidatingAdmissionPolicy',
      'ValidatingAdmissionPolicyBinding',
    ]);
    for (const d of docs) expect(d.metadata.labels, d.kind).toMatchObject({ team: 'platform' });
    expect(cronJob(docs).metadata?.name).toBe('rotator');
    const pod = cronPod(docs).spec!;
    expect(pod.serviceAccountName).toBe('existing');
    expect(pod.priorityClassName).toBe('system-cluster-critical');
    expect(pod.topologySpreadConstraints).toHaveLength(1);
    expect(pod.securityContext?.runAsUser).toBe(1000);
    const policy = of(docs, 'ValidatingAdmissionPolicy') as V1ValidatingAdmissionPolicy;
    expect(JSON.stringify(policy.spec?.matchConditions)).toContain('system:serviceaccount:ns:existing');
    const r = helmTry('template', 'rr', CHART, '-f', valuesFile({ serviceAccount: { create: false } }));
    expect(r.stderr).toMatch(/serviceAccount.name is required when serviceAccount.create is false/);
  });

  it('the healer: rotation.healPods in the config adds delete on pods, and watch in scheduler mode, as components/healer does', () => {
    const values = parse(readFileSync(join(ROOT, 'deploy/helm/regcred-rotator/values.yaml'), 'utf8')) as {
      config: string;
    };
    const config = parse(values.config) as { rotation?: Record<string, unknown> };
    const healing = stringify({ ...config, rotation: { ...config.rotation, healPods: true } });
    const pods = (docs: Obj[]) =>
      (of(docs, 'ClusterRole') as V1ClusterRole).rules?.find((r) => r.resources?.includes('pods'))?.verbs;
    expect(pods(template('regcred-rotator', 'ns', { image: { tag: '0.1.0' } }))).toEqual(['list']);
    expect(pods(template('regcred-rotator', 'ns', { image: { tag: '0.1.0' }, config: healing }))).toEqual([
      'list',
      'delete',
    ]);
    const scheduler = pods(
      template('regcred-rotator', 'ns', { image: { tag: '0.1.0' }, mode: 'scheduler', config: healing }),
    );
    expect(scheduler).toEqual(['list', 'delete', 'watch']);
    const component = objects(
      kustomize({ resources: ['deploy/overlays/scheduler'], components: ['deploy/components/healer'] }),
    );
    expect(pods(component)).toEqual(scheduler);
  });

  it('a ServiceMonitor needs scheduler mode (a CronJob pushes to a Pushgateway)', () => {
    const r = helmTry('template', 'rr', CHART, '-f', valuesFile({ serviceMonitor: { enabled: true } }));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/serviceMonitor needs mode: scheduler/);
  });

  it('helm test: a pod that runs validate --online as the rotator, with its config and CA', () => {
    const out = objects(
      helm(
        'template',
        'rr',
        CHART,
        '--show-only',
        'templates/tests/validate-online.yaml',
        '-f',
        valuesFile({ trustedCA: { secret: 'corp-ca', key: 'root.pem' } }),
      ),
    );
    const pod = out[0] as unknown as V1Pod;
    const spec = pod.spec!;
    expect(pod.metadata?.annotations?.['helm.sh/hook']).toBe('test');
    expect(spec.serviceAccountName).toBe('rr-regcred-rotator');
    expect(spec.containers[0]!.args).toEqual([
      'validate',
      '--online',
      '--config',
      '/etc/regcred-rotator/config.yaml',
    ]);
    expect(spec.containers[0]!.env).toContainEqual({
      name: 'NODE_EXTRA_CA_CERTS',
      value: '/etc/regcred-rotator-ca/root.pem',
    });
    expect(spec.volumes).toContainEqual({
      name: 'trusted-ca',
      secret: { secretName: 'corp-ca', items: [{ key: 'root.pem', path: 'root.pem' }] },
    });
    expect(spec.containers[0]!.securityContext?.readOnlyRootFilesystem).toBe(true);
  });
});

describe('install against the API server', () => {
  const sfx = suffix();
  const ns = `helm-${sfx}`;
  const releases: string[] = [];
  beforeAll(async () => {
    await createNamespace(ns);
  });
  afterAll(async () => {
    for (const r of releases) helmTry('uninstall', r, '--namespace', ns);
    await deleteNamespaces([ns]);
  });

  it('the schema refuses wrong values at install, naming the field; right ones install', () => {
    const wrong: [Record<string, unknown>, RegExp][] = [
      [{ imagePullSecrets: ['bootstrap'] }, /imagePullSecrets\/0.*(object|type)/],
      [{ imagePullSecrets: [{ secretName: 'bootstrap' }] }, /imagePullSecrets\/0.*(name|additional)/],
      [{ mode: 'cron' }, /mode.*(cronjob|enum|value must be one of)/],
      [{ image: { digest: 'latest' } }, /image\/digest/],
      [{ azure: { workloadIdentity: { clientId: 'not-a-guid' } } }, /clientId/],
      [{ schedule: '0 3 * * *' }, /schedule/],
    ];
    for (const [v, message] of wrong) {
      const r = helmTry('install', `bad-${sfx}`, CHART, '--namespace', ns, '-f', valuesFile(v));
      expect(r.code, JSON.stringify(v)).not.toBe(0);
      expect(r.stderr, JSON.stringify(v)).toMatch(/values don't meet the specifications of the schema/);
      expect(r.stderr, JSON.stringify(v)).toMatch(message);
    }
    expect(kubectl('-n', ns, 'get', 'cronjobs', '-o', 'name').stdout).toBe('');
    const release = `ok-${sfx}`;
    releases.push(release);
    helm(
      'install',
      release,
      CHART,
      '--namespace',
      ns,
      '-f',
      valuesFile({
        scope: 'namespaced',
        imagePullSecrets: [{ name: 'bootstrap' }],
        image: { digest: `sha256:${'0'.repeat(64)}` },
      }),
    );
    const cron = kubectl(
      '-n',
      ns,
      'get',
      'cronjob',
      `${release}-regcred-rotator`,
      '-o',
      'jsonpath={.spec.jobTemplate.spec.template.spec.imagePullSecrets[0].name} {.spec.jobTemplate.spec.podFailurePolicy.rules[0].onExitCodes.values}',
    );
    expect(cron.stdout).toBe('bootstrap [2,4]');
  });

  it('two releases in one namespace do not select each other pods', async () => {
    const [a, b] = [`a-${sfx}`, `b-${sfx}`];
    releases.push(a, b);
    for (const r of [a, b])
      helm(
        'install',
        r,
        CHART,
        '--namespace',
        ns,
        '-f',
        valuesFile({ mode: 'scheduler', scope: 'namespaced' }),
      );
    for (const r of [a, b]) {
      const name = `${r}-regcred-rotator`;
      const selector = (
        await waitFor(`${name}'s pod`, async () => {
          const pods = await api().listNamespacedPod({
            namespace: ns,
            labelSelector: `app.kubernetes.io/instance=${r}`,
          });
          return pods.items.length > 0 ? pods : undefined;
        })
      ).items;
      expect(selector.every((p) => p.metadata?.name?.startsWith(name))).toBe(true);
      // The Deployment's and the Service's own selectors pick exactly this release's pod.
      const deploy = JSON.parse(kubectl('-n', ns, 'get', 'deployment', name, '-o', 'json').stdout) as {
        spec: { selector: { matchLabels: Record<string, string> } };
      };
      const svc = JSON.parse(kubectl('-n', ns, 'get', 'service', `${name}-metrics`, '-o', 'json').stdout) as {
        spec: { selector: Record<string, string> };
      };
      for (const labels of [deploy.spec.selector.matchLabels, svc.spec.selector]) {
        const sel = Object.entries(labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(',');
        const pods = await api().listNamespacedPod({ namespace: ns, labelSelector: sel });
        expect(
          pods.items.map((p) => p.metadata?.name?.startsWith(name)),
          sel,
        ).toEqual([true]);
      }
    }
  });
});
