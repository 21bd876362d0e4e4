/**
 * The Helm chart and kustomize as the tests drive them: the stack's helm binary, values written to a file,
 * and kustomizations made in a temporary directory on top of the repository's deploy/ (kustomize takes no
 * absolute paths, so they name it relatively).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { env, kubectl, stack } from './stack.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
export const CHART = join(ROOT, 'deploy/helm/regcred-rotator');

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** helm with the stack's kubeconfig; its exit code and output, never throwing. */
export function helmTry(...args: string[]): Result {
  const r = spawnSync(env('REGCRED_STACK_HELM'), ['--kubeconfig', stack.kubeconfig, ...args], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** helm that must succeed: its stdout. */
export function helm(...args: string[]): string {
  const r = helmTry(...args);
  if (r.code !== 0) throw new Error(`helm ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** A values file holding `v`. */
export function valuesFile(v: Record<string, unknown>): string {
  const f = join(mkdtempSync(join(tmpdir(), 'helm-values-')), 'values.yaml');
  writeFileSync(f, stringify(v));
  return f;
}

/** `helm template` of the chart (tests left out): the rendered objects. */
export function template(release: string, namespace: string, values: Record<string, unknown>): Obj[] {
  return objects(
    helm('template', release, CHART, '--namespace', namespace, '--skip-tests', '-f', valuesFile(values)),
  );
}

export type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
} & Record<string, unknown>;

export function objects(yaml: string): Obj[] {
  return parseAllDocuments(yaml)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);
}

/** A kustomization on top of deploy/ dirs and components, with extra kustomization fields; rendered. */
export function kustomize(
  k: { resources: string[]; components?: string[] } & Record<string, unknown>,
): string {
  const dir = mkdtempSync(join(tmpdir(), 'regcred-kustomize-'));
  const rel = (p: string) => relative(dir, join(ROOT, p));
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    stringify({
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      ...k,
      resources: k.resources.map(rel),
      ...(k.components ? { components: k.components.map(rel) } : {}),
    }),
  );
  const r = kubectl('kustomize', dir);
  if (r.code !== 0) throw new Error(`kubectl kustomize: ${r.stderr}`);
  return r.stdout;
}

const HELM_ONLY_LABELS = ['helm.sh/chart', 'app.kubernetes.io/managed-by', 'app.kubernetes.io/version'];
const KUSTOMIZE_USER_MATCH =
  "request.userInfo.username.matches('^system:serviceaccount:[^:]+:regcred-rotator$')";

/** Objects keyed by kind/name, with what legitimately differs between the two tools taken out. */
export function normalise(docs: Obj[], namespace: string): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const o of docs) {
    if (o.kind === 'Namespace') continue;
    const text = JSON.stringify(o)
      .replace(/"regcred-rotator-config-[a-z0-9]{10}"/g, '"regcred-rotator-config"')
      .replace(
        `"request.userInfo.username == 'system:serviceaccount:${namespace}:regcred-rotator'"`,
        () => JSON.stringify(KUSTOMIZE_USER_MATCH), // a function: "$'" in the text is no pattern
      );
    const n = JSON.parse(text, (key, value: unknown) => {
      if (key !== 'annotations' || typeof value !== 'object' || value === null) return value;
      const rest = Object.fromEntries(Object.entries(value).filter(([k]) => k !== 'checksum/config'));
      return Object.keys(rest).length > 0 ? rest : undefined;
    }) as Obj & { data?: Record<string, string> };
    for (const l of HELM_ONLY_LABELS) delete n.metadata.labels?.[l];
    // kustomize's namespace transformer does not know these kinds are cluster-scoped; kubectl drops it.
    if (n.kind.startsWith('ValidatingAdmissionPolicy')) delete n.metadata.namespace;
    if (n.kind === 'ConfigMap' && n.data?.['config.yaml'])
      n.data['config.yaml'] = parse(n.data['config.yaml']);
    out.set(`${n.kind}/${n.metadata.name}`, n);
  }
  return out;
}
