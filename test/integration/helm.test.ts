/**
 * The Helm chart (deploy/helm/regcred-rotator) and the kustomizations (deploy/) are two ways to the same
 * objects: for each mode and scope, `helm template` with the matching values renders exactly what
 * `kubectl kustomize` renders, apart from Helm's own labels, the config's checksum annotation, kustomize's
 * content hash on the ConfigMap's name, and the Namespace (Helm does not create its release namespace).
 * `helm lint` passes, and the API server accepts the rendered objects (server-side dry run).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { env, kubectl, stack } from '../helpers/stack.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const CHART = join(ROOT, 'deploy/helm/regcred-rotator');

function helm(...args: string[]): string {
  const r = spawnSync(env('REGCRED_STACK_HELM'), args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`helm ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

type Obj = { kind: string; metadata: { name: string; labels?: Record<string, string> } } & Record<
  string,
  unknown
>;
const HELM_ONLY_LABELS = [
  'helm.sh/chart',
  'app.kubernetes.io/managed-by',
  'app.kubernetes.io/instance',
  'app.kubernetes.io/version',
];

/** Objects keyed by kind/name, with what legitimately differs between the two tools taken out. */
function normalise(yaml: string): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const d of parseAllDocuments(yaml)) {
    const o = d.toJS() as Obj | null;
    if (!o || o.kind === 'Namespace') continue;
    const text = JSON.stringify(o).replace(
      /"regcred-rotator-config-[a-z0-9]{10}"/g,
      '"regcred-rotator-config"',
    );
    const n = JSON.parse(text, (key, value: unknown) => {
      if (key !== 'annotations' || typeof value !== 'object' || value === null) return value;
      const rest = Object.fromEntries(Object.entries(value).filter(([k]) => k !== 'checksum/config'));
      return Object.keys(rest).length > 0 ? rest : undefined;
    }) as Obj & { data?: Record<string, string> };

    for (const l of HELM_ONLY_LABELS) delete n.metadata.labels?.[l];
    if (n.kind === 'ConfigMap' && n.data?.['config.yaml'])
      n.data['config.yaml'] = parse(n.data['config.yaml']);
    out.set(`${n.kind}/${n.metadata.name}`, n);
  }
  return out;
}

const kustomize = (dir: string) => {
  const r = kubectl('kustomize', join(ROOT, dir));
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
};

function values(v: Record<string, unknown>): string {
  const f = join(mkdtempSync(join(tmpdir(), 'helm-values-')), 'values.yaml');
  writeFileSync(f, stringify(v));
  return f;
}

const cases: { name: string; dir: string; namespace: string; values: Record<string, unknown> }[] = [
  {
    name: 'CronJob, cluster scope (deploy/)',
    dir: 'deploy',
    namespace: 'regcred-rotator',
    values: { image: { tag: '0.1.0' } },
  },
  {
    name: 'scheduler Deployment, cluster scope (deploy/overlays/scheduler)',
    dir: 'deploy/overlays/scheduler',
    namespace: 'regcred-rotator',
    values: { image: { tag: '0.1.0' }, mode: 'scheduler' },
  },
  {
    name: 'scheduler with the admission webhook and policy (deploy/overlays/scheduler-admission)',
    dir: 'deploy/overlays/scheduler-admission',
    namespace: 'regcred-rotator',
    values: {
      image: { tag: '0.1.0' },
      mode: 'scheduler',
      admission: { webhook: { enabled: true }, policy: { enabled: true } },
    },
  },
  {
    name: 'CronJob, namespaced (deploy/overlays/namespaced)',
    dir: 'deploy/overlays/namespaced',
    namespace: 'team-a',
    values: {
      image: { tag: '0.1.0' },
      scope: 'namespaced',
      config: readFileSync(join(ROOT, 'deploy/overlays/namespaced/config.yaml'), 'utf8'),
    },
  },
];

describe('the Helm chart', () => {
  it('passes helm lint', () => {
    expect(helm('lint', '--strict', CHART)).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  it('its default config is deploy/config/config.yaml', () => {
    const chartValues = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as { config: string };
    expect(parse(chartValues.config)).toEqual(
      parse(readFileSync(join(ROOT, 'deploy/config/config.yaml'), 'utf8')),
    );
  });

  it('refuses a config given as a map (Helm would merge it with the example) and an empty one', () => {
    for (const [config, message] of [
      [{ targets: [] }, /config must be the text of config.yaml \(config: \|\), not a map/],
      ['', /config \(the text of config.yaml\) is empty/],
    ] as const) {
      const r = spawnSync(
        env('REGCRED_STACK_HELM'),
        ['template', 'regcred-rotator', CHART, '-f', values({ config })],
        { encoding: 'utf8' },
      );
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(message);
    }
  });

  for (const c of cases)
    it(`renders the same objects as kustomize: ${c.name}`, () => {
      const fromHelm = normalise(
        helm('template', 'regcred-rotator', CHART, '--namespace', c.namespace, '-f', values(c.values)),
      );
      const fromKustomize = normalise(kustomize(c.dir));
      expect([...fromHelm.keys()].sort()).toEqual([...fromKustomize.keys()].sort());
      for (const [k, v] of fromKustomize) expect(fromHelm.get(k), k).toEqual(v);
    });

  it('the API server accepts every rendering (server-side dry run)', () => {
    kubectl('create', 'namespace', 'regcred-rotator');
    kubectl('create', 'namespace', 'team-a');
    for (const c of cases) {
      const out = helm(
        'template',
        'regcred-rotator',
        CHART,
        '--namespace',
        c.namespace,
        '-f',
        values(c.values),
      );
      const r = spawnSync(
        stack.kubectlBin,
        ['--kubeconfig', stack.kubeconfig, 'apply', '--dry-run=server', '-f', '-'],
        {
          input: out,
          encoding: 'utf8',
        },
      );
      expect(r.status, `${c.name}: ${r.stderr}`).toBe(0);
    }
  });
});
