/**
 * The fleet under faults and concurrency, through the real CLI on clusters a (issuing), b and c: an
 * acknowledgement is written only after a complete rollout of the stored version (not for a `-n` subset, a
 * namespace that failed, or a superseded Secret kept with the old token); a rotator killed between its
 * rollout and its acknowledgement acknowledges on its next run; a store outage — before the run, or between
 * the rollout and the fleet read — revokes nothing; ten rotators acknowledging at once lose none.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cluster, fleetRunning } from '../helpers/fleet.ts';
import { FleetRig } from '../helpers/fleet-rig.ts';
import { baoOk, policy } from '../helpers/openbao.ts';
import { StoreProxy } from '../helpers/store-proxy.ts';
import { freePort, stack, suffix, waitFor } from '../helpers/stack.ts';

const sfx = suffix();
const rig = new FleetRig(sfx, 2);
const [ns1, ns2] = rig.namespaces as [string, string];
const proxy = new StoreProxy();
let proxied = '';

const ackOf = async (id: string) => (await rig.ledger()).get(id)?.revision;
const aliveIds = async () => (await rig.alive()).map((t) => String(t.id));
const logged = (r: { logs: Record<string, unknown>[] }, msg: string) => r.logs.some((l) => l['msg'] === msg);

/**
 * The shared config, with a short run Lease: a rotator killed here holds it 5 s, not a minute. `rotation`
 * overrides some of its settings.
 */
const shared = (rotation: Record<string, unknown> = {}) =>
  rig.config({
    rotation,
    extra: { lock: { namespace: 'default', name: rig.lease, leaseDurationSeconds: 5 } },
  });

/** The shared config with the store at `address` (the proxy, or nowhere). */
function storeAt(address: string, name: string): string {
  const doc = shared();
  const stores = doc['stores'] as { bao: Record<string, unknown> };
  return rig.write({ ...doc, stores: { bao: { ...stores.bao, address } } }, name);
}

describe.skipIf(!fleetRunning)('the fleet under faults', () => {
  beforeAll(async () => {
    await rig.setup();
    rig.write(shared());
    proxied = storeAt(await proxy.listen(), 'proxied.yaml');
    const a = await rig.rotate('a');
    expect(a.code, a.text).toBe(0);
    for (const r of await Promise.all([rig.rotate('b'), rig.rotate('c')])) expect(r.code, r.text).toBe(0);
  });
  afterAll(async () => {
    await proxy.close();
    kubectlB(
      undefined,
      'delete',
      'validatingadmissionpolicy,validatingadmissionpolicybinding',
      `fleet-deny-${sfx}`,
      '--ignore-not-found',
    );
    await rig.cleanup();
  });

  it('an acknowledgement follows only a complete rollout: not a -n subset, not a failed namespace, not a kept Secret with the old token', async () => {
    expect((await rig.rotate('a', '--reissue')).code).toBe(0);
    const v2 = await rig.stored();
    const v1 = await ackOf(rig.ids.b);
    expect(v1).not.toBe(v2.revision);

    const subset = await rig.rotate('b', '-n', ns1);
    expect(subset.code, subset.text).toBe(0);
    expect(logged(subset, 'rollout complete')).toBe(false);
    expect(await ackOf(rig.ids.b)).toBe(v1);

    // ns2 refuses new Secrets (an admission policy of cluster b): the namespace fails, the run exits 1.
    await denySecrets(ns2);
    try {
      const failed = await rig.rotate('b');
      expect(failed.code, failed.text).toBe(1);
      expect(logged(failed, 'rollout complete')).toBe(false);
      expect(await ackOf(rig.ids.b)).toBe(v1);
    } finally {
      kubectlB(undefined, 'delete', 'validatingadmissionpolicybinding', `fleet-deny-${sfx}`);
    }
    await waitFor('ns2 to accept Secrets again', async () => (secretAllowed(ns2) ? true : undefined));

    // The superseded Secret stays, with the old token in it (retained, not refreshed): not complete.
    const kept = rig.write(shared({ retainSuperseded: '24h', refreshSuperseded: false }), 'kept.yaml');
    const keeping = await rig.run('b', ['--rotate-now'], { config: kept });
    expect(keeping.code, keeping.text).toBe(0);
    expect(logged(keeping, 'rollout complete')).toBe(false);
    expect(await ackOf(rig.ids.b)).toBe(v1);

    // The shared config again: the old Secret goes, the rollout is complete, b acknowledges.
    const done = await rig.rotate('b');
    expect(done.code, done.text).toBe(0);
    expect(await ackOf(rig.ids.b)).toBe(v2.revision);
    expect((await rig.check(['a', 'b'])).problems).toEqual([]);
  });

  it('a rotator killed between its rollout and its acknowledgement acknowledges on its next run', async () => {
    const v2 = await rig.stored();
    let pid = 0;
    let killed = false;
    const record = `secret/data/${rig.parent}/${rig.ids.c}`;
    proxy.rule = (r) => {
      if (
        r.method !== 'POST' ||
        r.path !== record ||
        !r.body.includes(`"regcred-acked-revision":"${v2.revision}"`)
      )
        return 'pass';
      process.kill(pid, 'SIGKILL');
      killed = true;
      return 'drop';
    };
    try {
      const r = await rig.run('c', ['--rotate-now'], { config: proxied, onSpawn: (p) => (pid = p) });
      expect(killed, r.text).toBe(true);
      expect(r.code).not.toBe(0);
      expect(logged(r, 'rollout complete')).toBe(true);
    } finally {
      proxy.rule = () => 'pass';
    }
    // Its namespaces hold the new token; the ledger does not say so yet, so nothing may be revoked.
    expect((await rig.check(['c'])).holds['c']).toEqual([v2.password.slice(-8)]);
    expect(await ackOf(rig.ids.c)).not.toBe(v2.revision);

    // The next run (its Lease, held by the killed one, expires first).
    const again = await rig.rotate('c', '--wait-for-lock');
    expect(again.code, again.text).toBe(0);
    expect(again.summary?.['writes']).toBe(0);
    expect(await ackOf(rig.ids.c)).toBe(v2.revision);
    const revoked = await rig.rotate('a');
    expect(revoked.stdout).toMatch(/^ {2}revoked: token/m);
    expect((await rig.check()).problems).toEqual([]);
  });

  it('a store outage revokes nothing: the store gone before the run, or gone between the rollout and the fleet read', async () => {
    const old = await rig.stored();
    expect((await rig.rotate('a', '--reissue')).code).toBe(0);
    for (const r of await Promise.all([rig.rotate('b'), rig.rotate('c')])) expect(r.code, r.text).toBe(0);
    // Every cluster has acknowledged: the issuing cluster's next run would revoke the old token.

    const nowhere = storeAt(`http://127.0.0.1:${await freePort()}`, 'nowhere.yaml');
    const down = await rig.run('a', ['--rotate-now'], { config: nowhere });
    expect(down.code, down.text).toBe(1);
    expect(await aliveIds()).toContain(old.tokenId);

    // The store answers until the rotation is done, then fails the listing of the ledger.
    proxy.rule = (r) => (r.verb === 'list' ? 'fail' : 'pass');
    try {
      const mid = await rig.run('a', ['--rotate-now', '--summary'], { config: proxied });
      expect(mid.code, mid.text).toBe(1);
      expect(logged(mid, 'rollout complete')).toBe(true);
      expect(mid.stdout).toMatch(/FAILED \(list\)/);
    } finally {
      proxy.rule = () => 'pass';
    }
    expect(await aliveIds()).toContain(old.tokenId);

    const back = await rig.rotate('a');
    expect(back.code, back.text).toBe(0);
    expect(await aliveIds()).not.toContain(old.tokenId);
    expect((await rig.check()).problems).toEqual([]);
  });

  it('ten rotators acknowledging at once lose no acknowledgement, and each then holds revocation back', async () => {
    // Ten clusters' worth of rotators: five on b, five on c, each with its own fleet.clusterId, namespace
    // and Lease; one store token that may write every record (each cluster's own is tested in fleet.test.ts).
    await policy(
      `fleet-${sfx}-sims`,
      `path "secret/data/${rig.base}/gitea" { capabilities = ["read"] }
path "secret/data/${rig.parent}/*" { capabilities = ["read", "create", "update"] }`,
    );
    const token = (
      (await baoOk('POST', 'auth/token/create', { policies: [`fleet-${sfx}-sims`], ttl: '1h' }))['auth'] as {
        client_token: string;
      }
    ).client_token;
    const sims = Array.from({ length: 10 }, (_, i) => ({
      id: `sim-${i}`,
      at: i < 5 ? ('b' as const) : ('c' as const),
      ns: `fl-${sfx}-sim${i}`,
    }));
    await Promise.all(sims.map((s) => cluster(s.at).createNamespace(s.ns)));
    try {
      const v = await rig.stored();
      const results = await Promise.all(
        sims.map((s) => {
          const doc = shared();
          doc['lock'] = { namespace: 'default', name: `fleet-${sfx}-${s.id}` };
          const target = (doc['targets'] as Record<string, unknown>[])[0];
          const config = rig.write(
            {
              ...doc,
              targets: [{ ...target, namespaces: { names: [s.ns] } }],
              fleet: { ...(doc['fleet'] as object), clusterId: s.id },
            },
            `${s.id}.yaml`,
          );
          return rig.run(s.at, ['--rotate-now'], { config, token });
        }),
      );
      for (const r of results) expect(r.code, r.text).toBe(0);
      const ledger = await rig.ledger();
      for (const s of sims)
        expect(ledger.get(s.id), s.id).toMatchObject({ revision: v.revision, state: 'active' });

      // Registered, each holds the next credential's revocation back until it has rolled it out.
      const next = await rig.rotate('a', '--reissue');
      expect(next.code, next.text).toBe(0);
      const blocked = (next.summary?.['issuance'] as { fleet?: { blockedBy?: string } }[])[0]?.fleet
        ?.blockedBy;
      expect(blocked).toMatch(/^12 of 13 clusters to roll out /);
      for (const s of sims) expect(blocked).toContain(s.id);
    } finally {
      await Promise.all(
        sims.map((s) =>
          cluster(s.at)
            .api()
            .deleteNamespace({ name: s.ns })
            .catch(() => undefined),
        ),
      );
    }
  });
});

function kubectlB(input: string | undefined, ...args: string[]): { code: number; stderr: string } {
  const r = spawnSync(stack.kubectlBin, ['--kubeconfig', cluster('b').kubeconfig, ...args], {
    input,
    encoding: 'utf8',
  });
  return { code: r.status ?? -1, stderr: r.stderr };
}

/** Whether cluster b admits a new Secret in `namespace` (a server-side dry run). */
const secretAllowed = (namespace: string): boolean =>
  kubectlB(
    JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'probe', namespace } }),
    'create',
    '--dry-run=server',
    '-f',
    '-',
  ).code === 0;

/** A ValidatingAdmissionPolicy of cluster b that refuses every new Secret in `namespace`; waits until it works. */
async function denySecrets(namespace: string): Promise<void> {
  const name = `fleet-deny-${sfx}`;
  const manifest = JSON.stringify({
    apiVersion: 'v1',
    kind: 'List',
    items: [
      {
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'ValidatingAdmissionPolicy',
        metadata: { name },
        spec: {
          failurePolicy: 'Fail',
          matchConstraints: {
            resourceRules: [
              { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['secrets'] },
            ],
          },
          validations: [{ expression: 'false', message: 'refused by the fleet test' }],
        },
      },
      {
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'ValidatingAdmissionPolicyBinding',
        metadata: { name },
        spec: {
          policyName: name,
          validationActions: ['Deny'],
          matchResources: {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } },
          },
        },
      },
    ],
  });
  const r = kubectlB(manifest, 'apply', '-f', '-');
  if (r.code !== 0) throw new Error(`admission policy: ${r.stderr}`);
  await waitFor('the admission policy to refuse Secrets', async () =>
    secretAllowed(namespace) ? undefined : true,
  );
}
