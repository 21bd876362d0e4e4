/**
 * The fleet recipes (deploy/fleet/, docs/fleet.md), rendered the way each tool renders them for each of the
 * stack's clusters a, b and c: the Argo CD ApplicationSet (its cluster generator's template filled in with
 * the cluster's name and API server, then the chart rendered with the Application's Helm values), the Flux
 * Kustomization (its path built, then its postBuild substitution from the cluster's cluster-vars), the
 * Cluster API ClusterResourceSet (deploy/fleet/cluster-api/render.sh). Each rendering is a valid install for
 * that cluster (a server-side dry run against the cluster's own API server); the three are the same install
 * (objects compared as test/integration/helm.test.ts compares the chart with kustomize); and the rotator
 * it installs, run with what it renders, says the cluster's id is the cluster's name.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cluster, fleetRunning, type ClusterName } from '../helpers/fleet.ts';
import { normalise, objects, ROOT, template, type Obj } from '../helpers/helm.ts';
import { runCli } from '../helpers/rotator.ts';
import { kubectl, stack, waitFor } from '../helpers/stack.ts';

const NAMESPACE = 'regcred-rotator';
const names: ClusterName[] = fleetRunning ? ['a', 'b', 'c'] : ['a'];
const created: ClusterName[] = [];

const yamlDocs = (file: string): Obj[] =>
  parseAllDocuments(readFileSync(join(ROOT, file), 'utf8')).map((d) => d.toJS() as Obj);

function dryRun(n: ClusterName, docs: Obj[]): { code: number; stderr: string; stdout: string } {
  const r = spawnSync(
    stack.kubectlBin,
    ['--kubeconfig', cluster(n).kubeconfig, 'apply', '--dry-run=server', '-f', '-'],
    { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: docs }), encoding: 'utf8' },
  );
  return { code: r.status ?? -1, stderr: r.stderr, stdout: r.stdout };
}

/** What the rendered CronJob runs: its config and its environment's cluster id. */
function rotatorOf(docs: Obj[]): { config: string; clusterId: string | undefined } {
  const cm = docs.find(
    (d) => d.kind === 'ConfigMap' && d.metadata.name.startsWith('regcred-rotator-config'),
  ) as (Obj & { data: Record<string, string> }) | undefined;
  const cron = docs.find((d) => d.kind === 'CronJob') as
    | {
        spec: {
          jobTemplate: {
            spec: { template: { spec: { containers: { env?: { name: string; value?: string }[] }[] } } };
          };
        };
      }
    | undefined;
  const env = cron?.spec.jobTemplate.spec.template.spec.containers[0]?.env ?? [];
  return {
    config: cm?.data['config.yaml'] ?? '',
    clusterId: env.find((e) => e.name === 'REGCRED_ROTATOR_CLUSTER_ID')?.value,
  };
}

/** `regcred-rotator fleet id` against cluster `n`, with what the install renders (config and environment). */
async function fleetIdWith(n: ClusterName, docs: Obj[], validate = false): Promise<string> {
  const { config, clusterId } = rotatorOf(docs);
  const f = join(mkdtempSync(join(tmpdir(), 'regcred-recipe-')), 'config.yaml');
  writeFileSync(f, config);
  if (validate) {
    const valid = await runCli(['--config', f, 'validate']);
    expect(valid.code, valid.text).toBe(0);
  }
  const r = await runCli(['--config', f, '--kubeconfig', cluster(n).kubeconfig, 'fleet', 'id'], {
    env: { REGCRED_ROTATOR_CLUSTER_ID: clusterId },
  });
  expect(r.code, r.text).toBe(0);
  return r.stdout.trim();
}

/**
 * Flux's postBuild substitution as its envsubst does it: `${VAR}` (a variable it was not given becomes
 * empty), `$$` for a literal `$`; any other `$` stays.
 */
function fluxSubstitute(text: string, vars: Record<string, string>): { text: string; unknown: string[] } {
  const unknown: string[] = [];
  const out = text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (m, name: string | undefined) => {
    if (m === '$$') return '$';
    if (name === undefined) return m;
    if (!(name in vars)) unknown.push(name);
    return vars[name] ?? '';
  });
  return { text: out, unknown };
}

interface ArgoApp {
  spec: {
    source: { path: string; helm: { releaseName: string; valuesObject: Record<string, unknown> } };
    destination: { server: string; namespace: string };
  };
}

type FluxDoc = Obj & {
  data?: Record<string, string>;
  spec?: {
    path?: string;
    sourceRef?: unknown;
    postBuild?: { substituteFrom?: unknown };
  };
};

const render = {
  argo(n: ClusterName): { docs: Obj[]; app: ArgoApp } {
    const [set] = yamlDocs('deploy/fleet/argocd/applicationset.yaml') as unknown as [
      { spec: { goTemplate: boolean; generators: { clusters?: unknown }[]; template: unknown } },
    ];
    expect(set.spec.goTemplate).toBe(true);
    expect(set.spec.generators[0]?.clusters).toBeDefined();
    // The cluster generator's parameters for this cluster, into the template.
    const filled = JSON.stringify(set.spec.template)
      .replaceAll('{{.name}}', n)
      .replaceAll('{{.server}}', cluster(n).apiserver);
    expect(filled).not.toMatch(/\{\{/);
    const app = JSON.parse(filled) as ArgoApp;
    expect(existsSync(join(ROOT, app.spec.source.path, 'Chart.yaml'))).toBe(true);
    expect(join(ROOT, app.spec.source.path)).toBe(join(ROOT, 'deploy/helm/regcred-rotator'));
    expect(app.spec.destination.server).toBe(cluster(n).apiserver);
    return {
      docs: template(
        app.spec.source.helm.releaseName,
        app.spec.destination.namespace,
        app.spec.source.helm.valuesObject,
      ),
      app,
    };
  },
  flux(n: ClusterName): Obj[] {
    const docs = yamlDocs('deploy/fleet/flux/regcred-rotator.yaml') as FluxDoc[];
    const git = docs.find((d) => d.kind === 'GitRepository');
    const ks = docs.find((d) => d.kind === 'Kustomization');
    const vars = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'cluster-vars');
    expect(ks?.spec?.sourceRef).toEqual({ kind: 'GitRepository', name: git?.metadata.name });
    expect(ks?.spec?.postBuild?.substituteFrom).toEqual([{ kind: 'ConfigMap', name: 'cluster-vars' }]);
    const built = kubectl('kustomize', join(ROOT, ks?.spec?.path ?? 'missing'));
    expect(built.code, built.stderr).toBe(0);
    const { text, unknown } = fluxSubstitute(built.stdout, { ...vars?.data, CLUSTER_ID: n });
    expect(unknown).toEqual([]);
    expect(text).not.toMatch(/\$\{/);
    return objects(text);
  },
  capi(n: ClusterName): Obj[] {
    const r = spawnSync('bash', [join(ROOT, 'deploy/fleet/cluster-api/render.sh'), n], {
      encoding: 'utf8',
      env: { ...process.env, KUBECTL: stack.kubectlBin },
    });
    expect(r.status, r.stderr).toBe(0);
    const out = objects(r.stdout) as (Obj & {
      data?: Record<string, string>;
      spec?: { resources?: unknown; clusterSelector?: unknown };
    })[];
    const cm = out.find((o) => o.kind === 'ConfigMap');
    const crs = out.find((o) => o.kind === 'ClusterResourceSet');
    expect(crs?.apiVersion).toBe('addons.cluster.x-k8s.io/v1beta1');
    expect(crs?.metadata.namespace).toBe(cm?.metadata.namespace);
    expect(crs?.spec?.resources).toEqual([{ kind: 'ConfigMap', name: cm?.metadata.name }]);
    expect(crs?.spec?.clusterSelector).toEqual({ matchLabels: { 'regcred-rotator.io/cluster-id': n } });
    const data = cm?.data ?? {};
    expect(Object.keys(data)).toEqual(['install.yaml']);
    return objects(data['install.yaml'] ?? '');
  },
};

describe('fleet recipes (deploy/fleet): one install per cluster, with its id', () => {
  beforeAll(async () => {
    // A server-side dry run cannot create the namespace the other objects go into.
    for (const n of names)
      await waitFor(
        `namespace ${NAMESPACE} in cluster ${n}`,
        async () => {
          const ns = await cluster(n)
            .api()
            .readNamespace({ name: NAMESPACE })
            .catch(() => undefined);
          if (ns?.status?.phase === 'Terminating') return undefined;
          if (!ns) {
            await cluster(n)
              .api()
              .createNamespace({ body: { metadata: { name: NAMESPACE } } });
            if (n !== 'a') created.push(n);
          }
          return true;
        },
        120_000,
      );
  });
  afterAll(async () => {
    for (const n of created)
      await cluster(n)
        .api()
        .deleteNamespace({ name: NAMESPACE })
        .catch(() => undefined);
  });

  it("the ApplicationSet's config is deploy/fleet/kustomize/config.yaml with the cluster's name for CLUSTER_ID", () => {
    const kustomized = readFileSync(join(ROOT, 'deploy/fleet/kustomize/config.yaml'), 'utf8');
    const { app } = render.argo('b');
    expect(parse(String(app.spec.source.helm.valuesObject['config']))).toEqual(
      parse(fluxSubstitute(kustomized, { CLUSTER_ID: 'b' }).text),
    );
  });

  describe.each(names)('cluster %s', (n) => {
    const rendered: Record<'argo' | 'flux' | 'capi', Obj[]> = { argo: [], flux: [], capi: [] };

    it('each recipe renders an install the cluster’s API server accepts (server-side dry run)', () => {
      rendered.argo = render.argo(n).docs;
      rendered.flux = render.flux(n);
      rendered.capi = render.capi(n);
      for (const [tool, docs] of Object.entries(rendered)) {
        const r = dryRun(n, docs);
        expect(r.code, `${tool}: ${r.stderr}`).toBe(0);
        expect(r.stdout).toMatch(
          /cronjob.batch\/regcred-rotator (created|configured|unchanged) \(server dry run\)/,
        );
      }
    });

    it('the three are the same install', () => {
      const [argo, flux, capi] = [rendered.argo, rendered.flux, rendered.capi].map((d) =>
        normalise(d, NAMESPACE),
      );
      expect([...(flux?.keys() ?? [])].sort()).toEqual([...(argo?.keys() ?? [])].sort());
      for (const [k, v] of flux ?? []) {
        expect(argo?.get(k), `argo ${k}`).toEqual(v);
        expect(capi?.get(k), `capi ${k}`).toEqual(v);
      }
    });

    it('the rotator it installs, run against the cluster, takes the cluster’s name as its id (and, without it, kube-system’s UID)', async () => {
      for (const docs of Object.values(rendered)) expect(rotatorOf(docs).clusterId).toBe(n);
      // One run is enough for the three: they are the same install.
      expect(await fleetIdWith(n, rendered.flux, true)).toBe(n);
      const uid = (await cluster(n).api().readNamespace({ name: 'kube-system' })).metadata?.uid;
      const plain = rendered.flux.map((d) => (d.kind === 'CronJob' ? withoutClusterId(d) : d));
      expect(await fleetIdWith(n, plain)).toBe(uid);
    });
  });
});

function withoutClusterId(cron: Obj): Obj {
  const c = JSON.parse(JSON.stringify(cron)) as Obj & {
    spec: { jobTemplate: { spec: { template: { spec: { containers: { env: { name: string }[] }[] } } } } };
  };
  for (const k of c.spec.jobTemplate.spec.template.spec.containers)
    k.env = k.env.filter((e) => e.name !== 'REGCRED_ROTATOR_CLUSTER_ID');
  return c;
}
