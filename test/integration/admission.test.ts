/**
 * The admission side against the real API server, without the node (pods here are dry runs, or stay
 * Pending in namespaces that are not on the node):
 *
 * - the policy's params and bindings follow the config and each pass: created, left alone when nothing
 *   changed (no write), moved to the new name by a rotation, removed with their target; the policy's CEL
 *   injects exactly where the target does (exclude globs, selected ServiceAccounts, pods naming ours);
 * - the webhook's own certificate renewed by time under a stream of admissions: the API server (Go's
 *   TLS) verifies every certificate the DER writer made, no call fails open, the old CA leaves the bundle;
 *   a Secret garbled by hand is replaced without a failed call.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueServing } from '../../src/admission/x509.ts';
import {
  callsSince,
  kubectlApply,
  manifests,
  servedCertificate,
  startRotator,
  webhookCalls,
  type Rotator,
} from '../helpers/admission.ts';
import { spawnCli, useCreds, Workspace } from '../helpers/rotator.ts';
import { api, deleteNamespaces, env, kubectl, sleep, stack, suffix, waitFor } from '../helpers/stack.ts';

const sfx = suffix();
const created: string[] = [];

async function namespace(name: string, labels: Record<string, string>): Promise<void> {
  created.push(name);
  await api().createNamespace({ body: { metadata: { name, labels } } });
  await waitFor(`the default ServiceAccount in ${name}`, () =>
    api().readNamespacedServiceAccount({ namespace: name, name: 'default' }),
  );
}

/** A dry-run pod's pull secrets as the API server would store them. */
async function dryRun(ns: string, o: { sa?: string; pullSecrets?: string[] } = {}): Promise<string[]> {
  const p = await api().createNamespacedPod({
    namespace: ns,
    dryRun: 'All',
    body: {
      metadata: { generateName: 'probe-' },
      spec: {
        serviceAccountName: o.sa,
        imagePullSecrets: o.pullSecrets?.map((name) => ({ name })),
        containers: [{ name: 'c', image: 'registry.example/app:1' }],
      },
    },
  });
  return (p.spec?.imagePullSecrets ?? []).map((s) => s.name ?? '');
}

afterAll(() => deleteNamespaces(created));

describe('the admission policy', () => {
  const policy = `regcred-rotator-inject-it${sfx}`;
  const home = `adm-${sfx}`;
  const w = new Workspace();
  let scheduler: ReturnType<typeof spawnCli> | undefined;
  const target = (name: string, extra: Record<string, unknown>) => ({
    name,
    store: 'local',
    registry: stack.registryBasic,
    credentials: { username: { key: 'user' }, password: { key: 'pass' } },
    secretName: `rc-${sfx}-${name.slice(0, 1)}`,
    ...extra,
  });
  const config = (targets: unknown[]) =>
    w.writeConfig({
      stores: { local: { type: 'file', path: w.creds } },
      targets,
      schedule: '0 3 1 1 *',
      metrics: { port: 0 },
      lock: { namespace: home, name: 'regcred-rotator' },
    });
  const both = [
    target(`sel${sfx}`, {
      namespaces: { selector: `adm=${sfx}`, exclude: [`adm-${sfx}-x*`] },
      serviceAccounts: ['default'],
    }),
    target(`nam${sfx}`, { namespaces: { names: [`adm-${sfx}-named`] } }),
  ];
  const start = async () => {
    scheduler = spawnCli(
      ['--config', w.config, '--log-format', 'json', '--admission-policy', policy],
      /"msg":"run summary"/,
    );
    await scheduler.seen;
  };
  const stop = async () => {
    scheduler?.child.kill('SIGTERM');
    await scheduler?.closed;
  };
  const params = () =>
    JSON.parse(
      kubectl(
        '-n',
        home,
        'get',
        'configmap',
        '-l',
        `regcred-rotator.io/admission-policy=${policy}`,
        '-o',
        'json',
      ).stdout,
    ) as {
      items: { metadata: { name: string; resourceVersion: string }; data: Record<string, string> }[];
    };
  const bindings = () =>
    JSON.parse(
      kubectl(
        'get',
        'mutatingadmissionpolicybinding',
        '-l',
        `regcred-rotator.io/admission-policy=${policy}`,
        '-o',
        'json',
      ).stdout,
    ) as {
      items: { metadata: { name: string; resourceVersion: string }; spec: Record<string, unknown> }[];
    };

  beforeAll(async () => {
    await api().createNamespace({ body: { metadata: { name: home } } });
    created.push(home);
    // A target with no Secret anywhere draws a new name salt at every pass (rotation/naming.ts): its param
    // would follow each one. With its namespace there, its name is stable.
    await namespace(`adm-${sfx}-named`, {});
    const [p] = manifests('policy');
    kubectlApply([{ ...p, metadata: { ...p!.metadata, name: policy } }]);
    useCreds(w, 1);
    config(both);
    await start();
  });
  afterAll(async () => {
    await stop();
    kubectl(
      'delete',
      'mutatingadmissionpolicybinding',
      '-l',
      `regcred-rotator.io/admission-policy=${policy}`,
    );
    kubectl('delete', 'mutatingadmissionpolicy', policy, '--ignore-not-found');
  });

  it('one param per target (the current name), one binding per way it selects namespaces', async () => {
    const ps = await waitFor('the params', async () => (params().items.length === 2 ? params() : undefined));
    const sel = ps.items.find((c) => c.metadata.name === `${policy}-sel${sfx}`);
    expect(sel?.data).toMatchObject({ secretBase: `rc-${sfx}-s`, serviceAccounts: 'default' });
    expect(sel?.data['secretName']).toMatch(new RegExp(`^rc-${sfx}-s-[0-9a-f]{10}$`));
    expect(new RegExp(sel?.data['exclude'] ?? '^$').test(`adm-${sfx}-xyz`)).toBe(true);
    expect(
      bindings().items.map((b) => [
        b.metadata.name,
        (b.spec['matchResources'] as { namespaceSelector: unknown }).namespaceSelector,
      ]),
    ).toEqual([
      [
        `${policy}-nam${sfx}`,
        {
          matchExpressions: [
            { key: 'kubernetes.io/metadata.name', operator: 'In', values: [`adm-${sfx}-named`] },
          ],
        },
      ],
      [`${policy}-sel${sfx}`, { matchExpressions: [{ key: 'adm', operator: 'In', values: [sfx] }] }],
    ]);
  });

  it('the API server injects exactly where the target does', async () => {
    const current =
      params().items.find((c) => c.metadata.name === `${policy}-sel${sfx}`)?.data['secretName'] ?? '';
    await namespace(`adm-${sfx}-in`, { adm: sfx });
    await namespace(`adm-${sfx}-xcluded`, { adm: sfx });
    await namespace(`adm-${sfx}-other`, {});
    await api().createNamespacedServiceAccount({
      namespace: `adm-${sfx}-in`,
      body: { metadata: { name: 'builder' } },
    });
    await waitFor('the policy in effect', async () =>
      (await dryRun(`adm-${sfx}-in`, { pullSecrets: ['x'] })).length === 2 ? true : undefined,
    );
    expect(await dryRun(`adm-${sfx}-in`, { pullSecrets: ['team-mirror'] })).toEqual(['team-mirror', current]);
    expect(await dryRun(`adm-${sfx}-in`, { pullSecrets: [`rc-${sfx}-s-0123456789`] })).toEqual([
      `rc-${sfx}-s-0123456789`,
    ]);
    expect(await dryRun(`adm-${sfx}-in`, { sa: 'builder', pullSecrets: ['x'] })).toEqual(['x']);
    expect(await dryRun(`adm-${sfx}-xcluded`, { pullSecrets: ['x'] })).toEqual(['x']);
    expect(await dryRun(`adm-${sfx}-other`, { pullSecrets: ['x'] })).toEqual(['x']);
  });

  it('a pass that changes nothing writes nothing; a rotation moves the param to the new name', async () => {
    const before = JSON.stringify([
      params().items.map((c) => c.metadata.resourceVersion),
      bindings().items.map((b) => b.metadata.resourceVersion),
    ]);
    const old = params().items.find((c) => c.metadata.name === `${policy}-sel${sfx}`)?.data['secretName'];
    scheduler?.child.kill('SIGHUP');
    await scheduler?.until(/"msg":"run summary"[\s\S]*"msg":"run summary"/);
    await sleep(1000);
    expect(
      JSON.stringify([
        params().items.map((c) => c.metadata.resourceVersion),
        bindings().items.map((b) => b.metadata.resourceVersion),
      ]),
    ).toBe(before);
    useCreds(w, 2);
    scheduler?.child.kill('SIGHUP');
    const now = await waitFor(
      'the param on the new name',
      async () => {
        const n = params().items.find((c) => c.metadata.name === `${policy}-sel${sfx}`)?.data['secretName'];
        return n && n !== old ? n : undefined;
      },
      60_000,
    );
    expect(now).toMatch(new RegExp(`^rc-${sfx}-s-[0-9a-f]{10}$`));
  });

  it("a target removed from the config: its param and binding go, the other's stay", async () => {
    await stop();
    config([both[0]]);
    await start();
    await waitFor('the removed target gone', async () =>
      params().items.length === 1 && bindings().items.length === 1 ? true : undefined,
    );
    expect(bindings().items.map((b) => b.metadata.name)).toEqual([`${policy}-sel${sfx}`]);
  });
});

describe("the webhook's own certificate, renewed by time", () => {
  let r: Rotator;
  beforeAll(async () => {
    // 36 s: renewed after ~26 s, 3 s grace, the old CA dropped 6 s after the switch, checked every 3 s.
    r = await startRotator('webhook', `c${sfx}`.slice(0, 6), { args: ['--webhook-cert-validity', '36s'] });
  });
  afterAll(() => r.stop());

  it('a stream of admissions across two renewals: every call verified (Go TLS against our CA), none failed open; the old CA leaves the bundle', async () => {
    const ns = `adc-${sfx}`;
    await namespace(ns, r.namespaceLabels);
    const calls0 = webhookCalls(r.webhookName);
    const seen = new Set<string>([await servedCertificate(env('REGCRED_STACK_IP'), r.webhookPort!)]);
    const t0 = Date.now();
    let admitted = 0;
    while (Date.now() - t0 < 75_000) {
      await dryRun(ns);
      admitted++;
      seen.add(await servedCertificate(env('REGCRED_STACK_IP'), r.webhookPort!));
      await sleep(150);
    }
    await sleep(2000);
    const calls = callsSince(calls0, webhookCalls(r.webhookName));
    console.log(
      `[integration] webhook certificate: ${seen.size} certificates served in 75 s, ${admitted} admissions, calls ${JSON.stringify(calls)}`,
    );
    expect(seen.size).toBeGreaterThanOrEqual(3);
    await waitFor(
      'the replaced CA dropped from the caBundle',
      async () => {
        const b = kubectl(
          'get',
          'mutatingwebhookconfiguration',
          r.webhookConfiguration ?? '',
          '-o',
          'jsonpath={.webhooks[0].clientConfig.caBundle}',
        );
        return (
          Buffer.from(b.stdout, 'base64')
            .toString()
            .match(/BEGIN CERTIFICATE/g) ?? []
        ).length === 1
          ? true
          : undefined;
      },
      30_000,
    );
    expect(calls.failOpen).toBe(0);
    expect(Object.keys(calls.byOutcome)).toEqual(['200 rejected=false']);
    expect(calls.byOutcome['200 rejected=false']).toBeGreaterThanOrEqual(admitted);
  });

  it('a TLS Secret garbled by hand is replaced (the CA being served stays trusted meanwhile)', async () => {
    const ns = `adc-${sfx}`;
    const calls0 = webhookCalls(r.webhookName);
    const p = kubectl(
      '-n',
      r.home,
      'patch',
      'secret',
      'webhook-tls',
      '--type=merge',
      '-p',
      JSON.stringify({ data: { 'tls.crt': Buffer.from('garbage').toString('base64') } }),
    );
    expect(p.code, p.stderr).toBe(0);
    await waitFor(
      'a readable certificate again',
      async () => {
        const s = await api().readNamespacedSecret({ namespace: r.home, name: 'webhook-tls' });
        return Buffer.from(s.data?.['tls.crt'] ?? '', 'base64')
          .toString()
          .includes('BEGIN CERTIFICATE')
          ? true
          : undefined;
      },
      30_000,
    );
    for (let i = 0; i < 40; i++) {
      await dryRun(ns);
      await sleep(150);
    }
    const calls = callsSince(calls0, webhookCalls(r.webhookName));
    expect(calls.failOpen).toBe(0);
    expect(Object.keys(calls.byOutcome)).toEqual(['200 rejected=false']);
  });
});

describe('the webhook serving certificate files kept by someone else (cert-manager)', () => {
  let r: Rotator;
  const dir = mkdtempSync(join(tmpdir(), 'webhook-certs-'));
  const issue = (label: string) => {
    const now = Date.now();
    return issueServing(
      [env('REGCRED_STACK_IP')],
      { notBefore: new Date(now - 60_000), notAfter: new Date(now + 3_600_000) },
      label,
    );
  };
  const first = issue('files-1');
  const setBundle = (name: string, pem: string) => {
    const p = kubectl(
      'patch',
      'mutatingwebhookconfiguration',
      name,
      '--type=json',
      '-p',
      JSON.stringify([
        { op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: Buffer.from(pem).toString('base64') },
      ]),
    );
    expect(p.code, p.stderr).toBe(0);
  };
  beforeAll(async () => {
    writeFileSync(join(dir, 'tls.crt'), first.certPem);
    writeFileSync(join(dir, 'tls.key'), first.keyPem);
    // What cert-manager's cainjector would do: the configuration trusts the files' CA.
    r = await startRotator('webhook', `f${sfx}`.slice(0, 6), {
      args: ['--webhook-cert-dir', dir, '--webhook-cert-validity', '36s'],
      beforeProbe: (name) => setBundle(name ?? '', first.caPem),
    });
  });
  afterAll(() => r.stop());

  it('serves the files, and a new pair written there within seconds, without a failed call; never writes a Secret or the caBundle', async () => {
    const ns = `adf-${sfx}`;
    await namespace(ns, r.namespaceLabels);
    const ip = env('REGCRED_STACK_IP');
    const before = await servedCertificate(ip, r.webhookPort!);
    expect(before).toBe(new X509Certificate(first.certPem).fingerprint256);
    const calls0 = webhookCalls(r.webhookName);
    const second = issue('files-2');
    setBundle(r.webhookConfiguration!, first.caPem + second.caPem); // the injector: old and new trusted
    await sleep(2000);
    writeFileSync(join(dir, 'tls.key'), second.keyPem); // a half-written update first: skipped
    await sleep(500);
    writeFileSync(join(dir, 'tls.crt'), second.certPem);
    const t0 = Date.now();
    while (
      (await servedCertificate(ip, r.webhookPort!)) !== new X509Certificate(second.certPem).fingerprint256
    ) {
      await dryRun(ns);
      expect(Date.now() - t0, 'the new pair served').toBeLessThan(20_000);
      await sleep(200);
    }
    for (let i = 0; i < 20; i++) await dryRun(ns);
    const calls = callsSince(calls0, webhookCalls(r.webhookName));
    expect(calls.failOpen).toBe(0);
    expect(Object.keys(calls.byOutcome)).toEqual(['200 rejected=false']);
    const secrets = await api().listNamespacedSecret({ namespace: r.home });
    expect(secrets.items.filter((x) => x.type === 'kubernetes.io/tls')).toEqual([]);
  });
});
