/**
 * Request metrics on the real stack: scheduler mode counts every API server request by verb, resource and
 * code, and every store call by store, operation and outcome. The counts are checked against the API
 * server's own audit log; no label carries a namespace, an object name, a key or a value.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fileConfig, spawnCli, useCreds, Workspace } from '../helpers/rotator.ts';
import {
  auditEvents,
  createNamespace,
  env,
  freePort,
  stack,
  suffix,
  testNamespaces,
  waitFor,
} from '../helpers/stack.ts';

const sfx = suffix();
const spaces = testNamespaces(`rm-${sfx}`);
const lockNs = `rm-lock-${sfx}`;
beforeAll(async () => {
  await createNamespace(lockNs);
  spaces.all.push(lockNs);
});
afterAll(spaces.cleanup);

/** `name{labels} value` lines of one metric, as label maps with their value. */
function samples(text: string, name: string): { labels: Record<string, string>; value: number }[] {
  const out: { labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const labels: Record<string, string> = {};
    for (const m of line.slice(name.length + 1, line.lastIndexOf('}')).matchAll(/(\w+)="([^"]*)"/g))
      labels[m[1]!] = m[2]!;
    out.push({ labels, value: Number(line.slice(line.lastIndexOf(' ') + 1)) });
  }
  return out;
}

const sum = (s: { labels: Record<string, string>; value: number }[], where: Record<string, string>) =>
  s
    .filter((x) => Object.entries(where).every(([k, v]) => x.labels[k] === v))
    .reduce((n, x) => n + x.value, 0);

it('scheduler mode counts API and store requests truly, by verb/resource/code and store/operation/outcome', async () => {
  const a = await spaces.make('a');
  const missing = `rm-${sfx}-missing`; // named in the config, never created: the API server answers 404
  const w = new Workspace();
  const port = await freePort();
  useCreds(w, 1);
  fileConfig(
    w,
    { name: 'rm', secretName: `rc-rm-${sfx}`, namespaces: { names: [a, missing] } },
    {
      schedule: '0 3 1 1 *',
      metrics: { port },
      lock: { namespace: lockNs, name: `rm-${sfx}`, leaseDurationSeconds: 15 },
    },
  );
  const s = spawnCli(['scheduler', '--config', w.config, '--log-format', 'json'], /"msg":"run summary"/);
  const scrape = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  try {
    await s.seen;
    const text = await scrape();
    const kube = samples(text, 'regcred_rotator_kube_requests_total');
    const store = samples(text, 'regcred_rotator_store_requests_total');

    // The first pass provisioned `a`: a Secret created, the ServiceAccount repointed, the Lease taken.
    expect(sum(kube, { verb: 'create', resource: 'secrets', code: '201' })).toBeGreaterThanOrEqual(1);
    expect(
      sum(kube, { resource: 'serviceaccounts', verb: 'patch' }) +
        sum(kube, { resource: 'serviceaccounts', verb: 'update' }),
    ).toBeGreaterThanOrEqual(1);
    expect(sum(kube, { resource: 'leases' })).toBeGreaterThanOrEqual(1);
    // The namespace that does not exist: a real error code, not only successes.
    expect(sum(kube, { verb: 'get', resource: 'namespaces', code: '404' })).toBeGreaterThanOrEqual(1);
    // Latency for every answered non-watch request: as many observations as counts.
    const seconds = samples(text, 'regcred_rotator_kube_request_duration_seconds_count');
    expect(sum(seconds, { verb: 'create', resource: 'secrets' })).toBe(
      sum(kube, { verb: 'create', resource: 'secrets' }),
    );
    // Both keys read from the file store.
    expect(sum(store, { store: 'local', type: 'file', operation: 'get', outcome: 'ok' })).toBe(2);
    expect(
      sum(samples(text, 'regcred_rotator_store_request_duration_seconds_count'), {
        store: 'local',
        operation: 'get',
      }),
    ).toBe(2);

    // Every write this process made in `a` is one the API server recorded from the rotator, and the other
    // way round (the controller-manager's own writes there, such as the `default` ServiceAccount, left out).
    const writes = ['create', 'update', 'patch', 'delete'];
    const ours = (resource: string) => writes.reduce((n, verb) => n + sum(kube, { verb, resource }), 0);
    for (const resource of ['secrets', 'serviceaccounts']) {
      await waitFor(
        `the audit log to show our ${resource} writes`,
        async () => {
          const audited = auditEvents().filter(
            (e) =>
              e.userAgent.startsWith('regcred-rotator') &&
              e.objectRef?.namespace === a &&
              e.objectRef.resource === resource &&
              !e.objectRef.subresource &&
              writes.includes(e.verb),
          ).length;
          return audited === ours(resource) ? true : undefined;
        },
        15_000,
      );
    }

    // No label value names a namespace, an object, a file or a credential.
    const secrets = [sfx, w.dir, stack.user, stack.password, 'user', 'pass'];
    for (const line of text.split('\n').filter((l) => /^regcred_rotator_(kube|store)_request/.test(l))) {
      const labels = line.slice(line.indexOf('{'), line.lastIndexOf('}'));
      for (const x of secrets) expect(labels, line).not.toContain(x);
    }

    // A store failure is counted by its kind: the key removed, a full pass (SIGHUP) reads it again.
    rmSync(join(w.creds, 'pass'));
    s.child.kill('SIGHUP');
    const failed = await waitFor('the not_found read in the metrics', async () => {
      const t = samples(await scrape(), 'regcred_rotator_store_requests_total');
      return sum(t, { store: 'local', operation: 'get', outcome: 'not_found' }) >= 1 ? t : undefined;
    });
    expect(sum(failed, { store: 'local', operation: 'get', outcome: 'not_found' })).toBe(1);
  } catch (e) {
    console.log(`[request-metrics] scheduler log:\n${s.stderr().split('\n').slice(-30).join('\n')}`);
    throw e;
  } finally {
    s.child.kill('SIGTERM');
    await s.closed;
  }
});

it('a --rotate-now run pushes its request metrics to the Pushgateway', async () => {
  const a = await spaces.make('push');
  const w = new Workspace();
  const job = `regcred-rm-${sfx}`;
  useCreds(w, 1);
  fileConfig(
    w,
    { name: 'rmp', secretName: `rc-rmp-${sfx}`, namespaces: { names: [a] } },
    {
      metrics: { pushgateway: env('REGCRED_STACK_PUSHGATEWAY'), job },
      lock: { namespace: lockNs, name: `rmp-${sfx}`, leaseDurationSeconds: 15 },
    },
  );
  const r = await w.rotate();
  expect(r.code, r.text).toBe(0);
  const pushed = (await (await fetch(`${env('REGCRED_STACK_PUSHGATEWAY')}/metrics`)).text())
    .split('\n')
    .filter((l) => l.includes(`job="${job}"`))
    .join('\n');
  expect(
    sum(samples(pushed, 'regcred_rotator_kube_requests_total'), { verb: 'create', resource: 'secrets' }),
  ).toBeGreaterThanOrEqual(1);
  expect(
    sum(samples(pushed, 'regcred_rotator_store_requests_total'), { operation: 'get', outcome: 'ok' }),
  ).toBe(2);
});
