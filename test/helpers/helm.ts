/**
 * The Helm chart and kustomize as the tests drive them: the stack's helm binary, values written to a file,
 * and kustomizations made in a temporary directory on top of the repository's deploy/ (kustomize takes no
 * absolute paths, so they name it relatively).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
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
