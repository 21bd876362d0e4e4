/**
 * The kubelet's own metrics for image pulls on this Kubernetes version, and PromQL that works on them:
 * a real Prometheus (Debian's) scrapes the node's kubelet while one pod pulls and another is refused,
 * and every query docs/operating.md documents is evaluated against what it scraped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  imageVariant,
  kubeletMetrics,
  nodeNamespace,
  pullOutcome,
  pullSecret,
  runPod,
} from '../helpers/node.ts';
import { Workspace } from '../helpers/rotator.ts';
import { deleteNamespaces, env, freePort, sleep, stack, suffix, waitFor } from '../helpers/stack.ts';

const sfx = suffix();
const ns = `km-${sfx}`;
let prometheus: ChildProcess | undefined;
let port = 0;

/** The queries docs/operating.md documents (keep in step with "The kubelet's pull metrics"). */
export const PROMQL = {
  pullErrorsPerSecond:
    'sum by (instance) (rate(kubelet_runtime_operations_errors_total{operation_type="pull_image"}[2m]))',
  pullErrorRatio:
    'sum(rate(kubelet_runtime_operations_errors_total{operation_type="pull_image"}[2m])) / sum(rate(kubelet_runtime_operations_total{operation_type="pull_image"}[2m]))',
  containersBlockedOnPulls:
    'sum by (code) (increase(kubelet_started_containers_errors_total{code=~"ErrImagePull|ImagePullBackOff"}[2m]))',
  pullLatencyP99:
    'histogram_quantile(0.99, sum by (le) (rate(kubelet_image_pull_duration_seconds_bucket[2m])))',
  credentialChecks: 'sum by (result) (increase(kubelet_imagemanager_image_mustpull_checks_total[2m]))',
};

async function query(q: string): Promise<{ labels: Record<string, string>; value: number }[]> {
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(q)}`);
  const body = (await res.json()) as {
    status: string;
    error?: string;
    data: { result: { metric: Record<string, string>; value: [number, string] }[] };
  };
  if (body.status !== 'success') throw new Error(`${q}: ${body.error ?? 'failed'}`);
  return body.data.result.map((r) => ({ labels: r.metric, value: Number(r.value[1]) }));
}

beforeAll(async () => {
  await nodeNamespace(ns);
  const w = new Workspace();
  const pki = join(stack.run, 'pki');
  const cfg = join(w.dir, 'prometheus.yml');
  writeFileSync(
    cfg,
    `global: { scrape_interval: 1s }\nscrape_configs:\n  - job_name: kubelet\n    scheme: https\n    tls_config: { ca_file: ${pki}/ca.crt, cert_file: ${pki}/admin.crt, key_file: ${pki}/admin.key }\n    static_configs: [{ targets: ['${new URL(env('REGCRED_STACK_KUBELET_METRICS')).host}'] }]\n`,
  );
  port = await freePort();
  prometheus = spawn(
    env('REGCRED_STACK_PROMETHEUS'),
    [
      `--config.file=${cfg}`,
      `--storage.tsdb.path=${join(w.dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: 'ignore' },
  );
  await waitFor(
    'Prometheus',
    async () => ((await fetch(`http://127.0.0.1:${port}/-/ready`)).ok ? true : undefined),
    30_000,
  );
  // Scraping before anything happens: rate() and increase() need a sample from before each event.
  await waitFor(
    'a first scrape of the kubelet',
    async () => ((await query('up{job="kubelet"}'))[0]?.value === 1 ? true : undefined),
    30_000,
  );
});
afterAll(async () => {
  prometheus?.kill('SIGTERM');
  await deleteNamespaces([ns]);
});

it('pull failures, blocked containers, pull latency and KEP-2535 checks: the metrics exist and the PromQL works', async () => {
  await pullSecret(ns, 'ok', { [stack.registryBasic]: { username: stack.user, password: stack.password } });
  await pullSecret(ns, 'refused', { [stack.registryBasic]: { username: stack.user, password: 'nope' } });
  const cached = await imageVariant('basic', `km-ok-${sfx}`);
  await runPod(ns, 'pulls', { images: [cached], pullSecrets: ['ok'] });
  await runPod(ns, 'refused', {
    images: [await imageVariant('basic', `km-no-${sfx}`)],
    pullSecrets: ['refused'],
  });
  expect(await pullOutcome(ns, 'pulls')).toEqual({ state: 'started' });
  // The image is now on the node: a second pod with the same credentials is a KEP-2535 record match.
  await runPod(ns, 'cached', { images: [cached], pullSecrets: ['ok'] });
  expect(await pullOutcome(ns, 'cached')).toEqual({ state: 'started' });
  // A counter's series is born at its first event, so increase() cannot see that one (no earlier
  // sample): check again once Prometheus has scraped it.
  await sleep(3000);
  await runPod(ns, 'cached-again', { images: [cached], pullSecrets: ['ok'] });
  expect(await pullOutcome(ns, 'cached-again')).toEqual({ state: 'started' });
  // Likewise the pull-latency histogram's series (one per image-size class) is born at its first pull.
  await runPod(ns, 'pulls-again', {
    images: [await imageVariant('basic', `km-ok2-${sfx}`)],
    pullSecrets: ['ok'],
  });
  expect(await pullOutcome(ns, 'pulls-again')).toEqual({ state: 'started' });
  expect((await pullOutcome(ns, 'refused')).state).toBe('failed');

  const raw = await kubeletMetrics();
  for (const name of [
    'kubelet_runtime_operations_errors_total{operation_type="pull_image"}',
    'kubelet_runtime_operations_total{operation_type="pull_image"}',
    'kubelet_started_containers_errors_total{code="ErrImagePull",container_type="container"}',
    'kubelet_image_pull_duration_seconds_bucket{image_size_in_bytes=',
    'kubelet_imagemanager_image_mustpull_checks_total{result=',
    'kubelet_image_manager_ensure_image_requests_total{',
  ])
    expect(raw, name).toContain(name);

  const errors = await waitFor(
    'pull errors in Prometheus',
    async () => {
      const r = await query(PROMQL.pullErrorsPerSecond);
      return r.length > 0 && r[0]!.value > 0 ? r : undefined;
    },
    90_000,
  );
  const ratio = await query(PROMQL.pullErrorRatio);
  const blocked = await query(PROMQL.containersBlockedOnPulls);
  const p99 = await query(PROMQL.pullLatencyP99);
  const checks = await waitFor(
    'a KEP-2535 credential check in Prometheus',
    async () => {
      const r = await query(PROMQL.credentialChecks);
      return r.some((c) => c.labels['result'] === 'credentialRecordFound' && c.value > 0) ? r : undefined;
    },
    60_000,
  );
  console.log(
    `[node] kubelet PromQL: pull errors/s ${errors[0]!.value.toFixed(3)}, error ratio ${ratio[0]?.value.toFixed(2) ?? '-'}, blocked ${JSON.stringify(blocked.map((b) => [b.labels['code'], b.value]))}, p99 pull ${p99[0]?.value.toFixed(3) ?? '-'} s, KEP-2535 checks ${JSON.stringify(checks.map((c) => [c.labels['result'], c.value]))}`,
  );
  expect(ratio[0]?.value).toBeGreaterThan(0);
  expect(ratio[0]?.value).toBeLessThanOrEqual(1);
  expect(blocked.map((b) => b.labels['code'])).toContain('ErrImagePull');
  expect(p99[0]?.value).toBeGreaterThan(0);
});
