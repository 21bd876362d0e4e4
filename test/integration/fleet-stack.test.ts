/**
 * The stack's fleet (test/stack/fleet/up.sh): clusters b and c beside the main cluster a, as separate as real
 * clusters — their own etcd, controllers, service-account issuer and audit log — so that a rotator per
 * cluster can be tested against one store and one issuer. The real CLI rotates a namespace of b.
 */
import { AuthenticationV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { cluster, clusters, fleetRunning, type StackCluster } from '../helpers/fleet.ts';
import { fileConfig, useCreds, Workspace } from '../helpers/rotator.ts';
import { env, stack, suffix, waitFor } from '../helpers/stack.ts';

const sfx = suffix();
const [a, b, c] = [cluster('a'), cluster('b'), cluster('c')];
const MANAGED = 'app.kubernetes.io/managed-by=regcred-rotator';

const gone = (what: string, read: () => Promise<unknown>) =>
  waitFor(
    `${what} deleted`,
    () =>
      read().then(
        () => undefined,
        (e: unknown) => ((e as { code?: number }).code === 404 ? true : undefined),
      ),
    60_000,
  );

/** Who the API server of `at` says the bearer of `token` is (SelfSubjectReview); a refusal is its HTTP code. */
async function whoAmI(at: StackCluster, token: string): Promise<string | number> {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: at.name, server: at.apiserver, caFile: env('REGCRED_STACK_CA') }],
    users: [{ name: 'bearer', token }],
    contexts: [{ name: 'bearer', cluster: at.name, user: 'bearer' }],
    currentContext: 'bearer',
  });
  try {
    const r = await kc.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: {} });
    return r.status?.userInfo?.username ?? '';
  } catch (e) {
    return (e as { code?: number }).code ?? -1;
  }
}

async function saToken(at: StackCluster, namespace: string): Promise<string> {
  const r = await at.api().createNamespacedServiceAccountToken({
    namespace,
    name: 'default',
    body: { spec: { expirationSeconds: 600 } },
  });
  return r.status?.token ?? '';
}

/** A JWT's header or payload, unverified. */
const jwtPart = (jwt: string, i: 0 | 1): Record<string, unknown> =>
  JSON.parse(Buffer.from(jwt.split('.')[i] ?? '', 'base64url').toString()) as Record<string, unknown>;

/** The cluster's OIDC discovery: its issuer and the ids of the keys it verifies tokens with. */
function discovery(x: StackCluster): { issuer: unknown; kids: unknown[] } {
  const config = JSON.parse(x.kubectl('get', '--raw', '/.well-known/openid-configuration').stdout) as {
    issuer?: unknown;
  };
  const jwks = JSON.parse(x.kubectl('get', '--raw', '/openid/v1/jwks').stdout) as {
    keys?: { kid?: unknown }[];
  };
  return { issuer: config.issuer, kids: (jwks.keys ?? []).map((k) => k.kid) };
}

// Skipped only on a stack started with REGCRED_STACK_FLEET=0 (the small stack); `npm test` and CI start the fleet.
describe.skipIf(!fleetRunning)('the fleet: clusters b and c beside the main one', () => {
  const spaces = { a: a.testNamespaces(`fleet-${sfx}`), b: b.testNamespaces(`fleet-${sfx}`) };
  const cSpaces = c.testNamespaces(`fleet-${sfx}`);
  afterAll(() => Promise.all([spaces.a.cleanup(), spaces.b.cleanup(), cSpaces.cleanup()]));

  it('lists three clusters, each its own API server at its own address, on the stack’s Kubernetes version', () => {
    expect(clusters().map((x) => x.name)).toEqual(['a', 'b', 'c']);
    expect(env('REGCRED_STACK_CLUSTERS')).toBe(
      clusters()
        .map((x) => `${x.name}:${x.kubeconfig}`)
        .join(' '),
    );
    expect(new Set(clusters().map((x) => x.apiserver)).size).toBe(3);
    for (const x of clusters()) {
      expect(x.kubeConfig().getCurrentCluster()?.server).toBe(x.apiserver);
      const v = x.kubectl('version', '-o', 'json');
      expect(v.code, v.stderr).toBe(0);
      const version = JSON.parse(v.stdout) as { serverVersion?: { gitVersion?: string } };
      expect(version.serverVersion?.gitVersion).toBe(env('REGCRED_STACK_KUBE_VERSION'));
      expect(x.kubectl('get', '--raw', '/readyz').stdout).toBe('ok');
    }
  });

  it('gives each cluster its own kube-system namespace UID (what a fleet derives cluster ids from)', async () => {
    const uids = await Promise.all(
      clusters().map(async (x) => (await x.api().readNamespace({ name: 'kube-system' })).metadata?.uid),
    );
    for (const uid of uids) expect(uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Set(uids).size).toBe(3);
  });

  describe.each([
    ['b', b],
    ['c', c],
  ] as const)('cluster %s', (name, x) => {
    it('gives a new namespace its default ServiceAccount and root CA, collects garbage, deletes the namespace; the other clusters never see it', async () => {
      const ns = `fleet-${sfx}-life-${name}`;
      await x.createNamespace(ns);
      const ca = await waitFor('kube-root-ca.crt', () =>
        x.api().readNamespacedConfigMap({ namespace: ns, name: 'kube-root-ca.crt' }),
      );
      expect(ca.data?.['ca.crt']).toContain('BEGIN CERTIFICATE');
      for (const other of clusters().filter((o) => o !== x)) {
        await expect(other.api().readNamespace({ name: ns })).rejects.toMatchObject({ code: 404 });
      }
      // The garbage collector: a dependent goes with its owner.
      const owner = await x
        .api()
        .createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'owner' } } });
      await x.api().createNamespacedConfigMap({
        namespace: ns,
        body: {
          metadata: {
            name: 'dependent',
            ownerReferences: [
              { apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata?.uid ?? '' },
            ],
          },
        },
      });
      await x.api().deleteNamespacedConfigMap({ namespace: ns, name: 'owner' });
      await gone('the dependent ConfigMap', () =>
        x.api().readNamespacedConfigMap({ namespace: ns, name: 'dependent' }),
      );
      // The namespace controller empties the namespace and removes its finalizer.
      await x.api().deleteNamespace({ name: ns });
      await gone(`namespace ${ns}`, () => x.api().readNamespace({ name: ns }));
    });

    it('audits its own requests only: a namespace created there is in its audit log, not in the others’', async () => {
      const ns = `fleet-${sfx}-audit-${name}`;
      await x.createNamespace(ns);
      const created = (y: StackCluster) =>
        y
          .auditEvents()
          .filter(
            (e) => e.verb === 'create' && e.objectRef?.resource === 'namespaces' && e.objectRef.name === ns,
          );
      await waitFor('the create in its audit log', async () => (created(x).length === 1 ? true : undefined));
      for (const other of clusters().filter((o) => o !== x)) expect(created(other)).toEqual([]);
      await x.api().deleteNamespace({ name: ns });
    });
  });

  it('gives each cluster its own service-account issuer and key: a token is accepted only where it was issued', async () => {
    const ns = await spaces.b.make('tokens');
    const nsA = await spaces.a.make('tokens');
    const fromB = await saToken(b, ns);
    const fromA = await saToken(a, nsA);
    // Separate keys and issuers, not only separate ServiceAccount UIDs (which alone would refuse a token).
    const [dA, dB, dC] = [discovery(a), discovery(b), discovery(c)];
    expect(dB.issuer).toBe(b.apiserver);
    expect(dC.issuer).toBe(c.apiserver);
    expect(new Set([dA.issuer, dB.issuer, dC.issuer]).size).toBe(3);
    expect(jwtPart(fromB, 1)['iss']).toBe(b.apiserver);
    expect(dB.kids).toContain(jwtPart(fromB, 0)['kid']);
    expect(dA.kids).toContain(jwtPart(fromA, 0)['kid']);
    const all = [dA, dB, dC];
    for (const [i, d] of all.entries()) {
      for (const other of all.slice(i + 1)) for (const kid of d.kids) expect(other.kids).not.toContain(kid);
    }
    expect(await whoAmI(b, fromB)).toBe(`system:serviceaccount:${ns}:default`);
    expect(await whoAmI(a, fromA)).toBe(`system:serviceaccount:${nsA}:default`);
    expect(await whoAmI(c, fromB)).toBe(401);
    expect(await whoAmI(a, fromB)).toBe(401);
    expect(await whoAmI(b, fromA)).toBe(401);
  });

  it('the rotator CLI with --kubeconfig of b provisions and rotates a namespace of b; the same namespace in a and c stays untouched', async () => {
    // The same name in all three clusters: only b's may change.
    const ns = await spaces.b.make('rotate');
    await spaces.a.make('rotate');
    await cSpaces.make('rotate');
    const w = new Workspace();
    useCreds(w, 1);
    fileConfig(w, { namespaces: { names: [ns] } }, { lock: { namespace: 'default' } });

    const first = await w.rotate(['--kubeconfig', b.kubeconfig]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.summary?.['outcomes']).toEqual({ provisioned: 1 });
    const managed = async (x: StackCluster) =>
      (await x.api().listNamespacedSecret({ namespace: ns, labelSelector: MANAGED })).items.map(
        (s) => s.metadata?.name,
      );
    const pulls = async (x: StackCluster) =>
      (
        (await x.api().readNamespacedServiceAccount({ namespace: ns, name: 'default' })).imagePullSecrets ??
        []
      ).map((r) => r.name);
    const [provisioned] = await managed(b);
    expect(provisioned).toMatch(/^regcred-stack-[0-9a-f]{10}$/);
    expect(await pulls(b)).toEqual([provisioned]);

    useCreds(w, 2);
    const second = await w.rotate(['--kubeconfig', b.kubeconfig]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.summary?.['outcomes']).toEqual({ rotated: 1 });
    // The superseded secret stays (retained for 24 h by default); the ServiceAccount names the new one.
    const [rotated] = await pulls(b);
    expect(rotated).toMatch(/^regcred-stack-[0-9a-f]{10}$/);
    expect(rotated).not.toBe(provisioned);
    expect((await managed(b)).sort()).toEqual([provisioned, rotated].sort());
    const secret = await b.api().readNamespacedSecret({ namespace: ns, name: rotated ?? '' });
    const doc = Buffer.from(secret.data?.['.dockerconfigjson'] ?? '', 'base64').toString();
    expect(
      (JSON.parse(doc) as { auths: Record<string, { username?: string }> }).auths[stack.registryBasic]
        ?.username,
    ).toBe(stack.user2);

    for (const other of [a, c]) {
      expect(await managed(other)).toEqual([]);
      expect(await pulls(other)).toEqual([]);
    }
    // Attributed by the audit logs: the rotator's writes reached b's API server and no other.
    const writes = (x: StackCluster) =>
      x
        .auditEvents()
        .filter(
          (e) =>
            e.userAgent.startsWith('regcred-rotator') &&
            e.objectRef?.namespace === ns &&
            e.verb !== 'get' &&
            e.verb !== 'list',
        );
    expect(writes(b).length).toBeGreaterThan(0);
    expect(writes(a)).toEqual([]);
    expect(writes(c)).toEqual([]);
  });
});
