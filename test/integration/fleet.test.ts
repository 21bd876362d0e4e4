/**
 * Three rotators, one per cluster (a, b, c of the stack), one config, one store (OpenBao) and one issuer
 * (Gitea tokens), through the real CLI: cluster a issues; every cluster registers on its first run under
 * its kube-system UID and acknowledges each complete rollout in the ledger; the old token is revoked only
 * at the issuing cluster's run after the last cluster's acknowledgement. A cluster that does not run holds
 * revocation back and is named — late, with how long — in the run, `status --fleet`, the metric and an
 * Event; `--force` revokes early only when it names every laggard; `fleet forget` lets a cluster that is gone
 * stop holding it back. After every step, no namespace of any cluster points at a revoked token (except
 * where `--force` was asked to allow exactly that).
 */
import { CoordinationV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cluster, fleetRunning } from '../helpers/fleet.ts';
import { FleetRig, NAMES, pushed } from '../helpers/fleet-rig.ts';
import { gitea as g, realmToken } from '../helpers/gitea.ts';
import type { ClusterName } from '../helpers/fleet.ts';
import { env, sleep, suffix } from '../helpers/stack.ts';

const sfx = suffix();
const rig = new FleetRig(sfx);
const job = `fleet-${sfx}`;
/** 7.2 s: a cluster that has not rolled out the stored token within a few runs is late. */
const DEADLINE_HOURS = 0.002;

/** Nothing in any cluster points at a revoked token; what each cluster holds. */
async function clean(clusters: readonly ClusterName[] = NAMES) {
  const c = await rig.check(clusters);
  expect(c.problems).toEqual([]);
  return c.holds;
}
const summaryFleet = (r: { summary?: Record<string, unknown> | undefined }) =>
  (r.summary?.['issuance'] as { fleet?: { cluster: string; blockedBy?: string } }[] | undefined)?.[0]?.fleet;
const both = (...args: string[]) => Promise.all([rig.rotate('b', ...args), rig.rotate('c', ...args)]);

describe.skipIf(!fleetRunning)(
  'a fleet of three rotators: one credential, revoked once every cluster has it',
  () => {
    beforeAll(async () => {
      await rig.setup();
      rig.write(
        rig.config({
          deadlineHours: DEADLINE_HOURS,
          extra: { metrics: { pushgateway: env('REGCRED_STACK_PUSHGATEWAY'), job } },
        }),
      );
    });
    afterAll(() => rig.cleanup());

    it("each cluster's id is its kube-system namespace's UID", async () => {
      for (const n of NAMES) {
        const ks = await cluster(n).api().readNamespace({ name: 'kube-system' });
        expect(rig.ids[n]).toBe(ks.metadata?.uid);
      }
      expect(new Set(Object.values(rig.ids)).size).toBe(3);
    });

    it('first runs: the issuing cluster mints and stores a token; each cluster registers on its first run and acknowledges its rollout', async () => {
      const a = await rig.rotate('a');
      expect(a.code, a.text).toBe(0);
      const v1 = await rig.stored();
      expect(await rig.alive()).toHaveLength(1);
      expect([...(await rig.ledger()).keys()]).toEqual([rig.ids.a]);

      const [b, c] = await both();
      for (const r of [b, c]) {
        expect(r.code, r.text).toBe(0);
        expect(r.stdout).toMatch(/rolled out as stored: another cluster issues/);
      }
      const ledger = await rig.ledger();
      expect([...ledger.keys()].sort()).toEqual(Object.values(rig.ids).sort());
      for (const row of ledger.values())
        expect(row).toMatchObject({ revision: v1.revision, state: 'active' });
      // Only the issuing cluster minted: still one token, and every namespace holds it.
      expect(await rig.alive()).toHaveLength(1);
      const holds = await clean();
      for (const n of NAMES) expect(holds[n]).toEqual([v1.password.slice(-8)]);
    });

    it('a rerun with nothing to do writes nothing: no ledger version, not even the run Lease', async () => {
      const leases = cluster('b').kubeConfig().makeApiClient(CoordinationV1Api);
      const lease = () =>
        leases
          .readNamespacedLease({ namespace: 'default', name: rig.lease })
          .then((l) => l.metadata?.resourceVersion);
      const before = { lease: await lease(), record: await rig.recordVersion(rig.ids.b) };
      const r = await rig.rotate('b');
      expect(r.code, r.text).toBe(0);
      expect(r.summary?.['writes']).toBe(0);
      expect({ lease: await lease(), record: await rig.recordVersion(rig.ids.b) }).toEqual(before);
    });

    it('a new token: the old one stays valid until the third cluster has rolled it out, and is revoked at the issuing cluster’s next run; the laggard is named, late', async () => {
      const old = await rig.stored();
      const issued = await rig.rotate('a', '--reissue');
      expect(issued.code, issued.text).toBe(0);
      const v2 = await rig.stored();
      expect(v2.tokenId).not.toBe(old.tokenId);
      expect(issued.stdout).toMatch(/fleet: revocation waits for 2 of 3 clusters to roll out/);
      expect((await rig.alive()).map((t) => String(t.id)).sort()).toEqual([old.tokenId, v2.tokenId].sort());
      await clean();

      const b = await rig.rotate('b');
      expect(b.code, b.text).toBe(0);
      expect((await rig.ledger()).get(rig.ids.b)?.revision).toBe(v2.revision);

      // c has not run: the issuing cluster revokes nothing and names c, late (the deadline is 7.2 s here).
      await sleep(Math.max(0, DEADLINE_HOURS * 3_600_000 - (Date.now() - issuedAt(issued))));
      const held = await rig.rotate('a');
      expect(held.code, held.text).toBe(0);
      expect(held.stdout).toMatch(
        new RegExp(
          `fleet: revocation waits for 1 of 3 clusters to roll out ${escape(v2.revision)}: ${rig.ids.c} \\(late: \\d+ s, deadline 7 s\\)`,
        ),
      );
      expect(summaryFleet(held)?.blockedBy).toContain(rig.ids.c);
      expect((await rig.alive()).map((t) => String(t.id))).toContain(old.tokenId);
      const lines = await pushed(job, /regcred_rotator_fleet_clusters\{.*state="late".*\} 1/);
      expect(lines).toMatch(
        new RegExp(`regcred_rotator_fleet_clusters\\{.*state="acked",target="${rig.target}".*\\} 2`),
      );
      const late = (await rig.events()).filter((e) => e.reason === 'ClusterLate');
      expect(late.at(-1)?.message).toMatch(
        new RegExp(
          `cluster ${rig.ids.c} has not rolled out ${escape(v2.revision)} after \\d+ s; the old credential stays valid`,
        ),
      );
      const status = await rig.run('a', ['status', '--fleet']);
      expect(status.code, status.text).toBe(0);
      expect(status.stdout).toMatch(
        new RegExp(
          `^${rig.target}\\s+${rig.ids.c}\\s+${escape(old.revision)}\\s+\\d+ (s|min) ago\\s+late\\s+\\d+ s$`,
          'm',
        ),
      );
      expect(status.stdout).toMatch(
        new RegExp(
          `^${rig.target}\\s+${rig.ids.b}\\s+${escape(v2.revision)}\\s+\\d+ (s|min) ago\\s+acked\\s+-$`,
          'm',
        ),
      );
      expect(status.stdout).toMatch(
        new RegExp(`revocation waits for 1 of 3 clusters to roll out .*${rig.ids.c}`),
      );
      await clean();

      // c runs again: it rolls out and acknowledges; it revokes nothing itself (only the issuing cluster does).
      const c = await rig.rotate('c');
      expect(c.code, c.text).toBe(0);
      expect((await rig.ledger()).get(rig.ids.c)?.revision).toBe(v2.revision);
      expect((await rig.alive()).map((t) => String(t.id))).toContain(old.tokenId);
      await clean();

      const revoked = await rig.rotate('a');
      expect(revoked.code, revoked.text).toBe(0);
      expect(revoked.stdout).toMatch(/^ {2}revoked: token regcred-fl-\S+ of \S+ — superseded by/m);
      expect((await rig.alive()).map((t) => String(t.id))).toEqual([v2.tokenId]);
      expect((await realmToken(g.puller, old.password)).status).toBe(401);
      const holds = await clean();
      for (const n of NAMES) expect(holds[n]).toEqual([v2.password.slice(-8)]);
    });

    it('--force revokes early only when it names every laggard; the named clusters are then the ones on a revoked token', async () => {
      const old = await rig.stored();
      const partly = await rig.rotate('a', '--reissue', '--force', rig.ids.b);
      expect(partly.code, partly.text).toBe(0);
      expect(summaryFleet(partly)?.blockedBy).toMatch(
        new RegExp(
          `^1 of 3 clusters to roll out \\S+: ${rig.ids.c}; not waited for \\(--force\\): ${rig.ids.b}$`,
        ),
      );
      expect((await rig.alive()).map((t) => String(t.id))).toContain(old.tokenId);
      await clean();

      const forced = await rig.rotate('a', '--force', `${rig.ids.b},${rig.ids.c}`);
      expect(forced.code, forced.text).toBe(0);
      expect(forced.stdout).toMatch(/^ {2}revoked: token/m);
      expect((await rig.alive()).map((t) => String(t.id))).not.toContain(old.tokenId);
      // What --force means: exactly the clusters it named hold the revoked token until they run.
      await clean(['a']);
      const named = await rig.check(['b', 'c']);
      expect(named.problems).toHaveLength(2);
      expect(named.holds).toEqual({ b: [old.password.slice(-8)], c: [old.password.slice(-8)] });

      for (const r of await both()) expect(r.code, r.text).toBe(0);
      await clean();
    });

    it('fleet forget: a cluster that is gone stops holding revocation back; only an identity that may write its record can forget it; run again, it registers anew', async () => {
      const old = await rig.stored();
      expect((await rig.rotate('a', '--reissue')).code).toBe(0);
      const v = await rig.stored();
      expect((await rig.rotate('b')).code).toBe(0);

      // A cluster's store identity writes only its own record (docs/fleet.md): b cannot forget c.
      const refused = await rig.run('b', ['fleet', 'forget', rig.ids.c]);
      expect(refused.code).not.toBe(0);
      expect(refused.text).toMatch(/permission denied/);
      expect((await rig.ledger()).get(rig.ids.c)?.state).toBe('active');

      const forgot = await rig.run('a', ['fleet', 'forget', rig.ids.c], { token: 'root' });
      expect(forgot.code, forgot.text).toBe(0);
      expect(forgot.stdout).toMatch(new RegExp(`target ${rig.target}: cluster ${rig.ids.c} forgotten`));
      expect((await rig.ledger()).get(rig.ids.c)?.state).toBe('forgotten');

      const a = await rig.rotate('a');
      expect(a.code, a.text).toBe(0);
      expect((await rig.alive()).map((t) => String(t.id))).toEqual([v.tokenId]);
      expect(old.tokenId).not.toBe(v.tokenId);
      await clean(['a', 'b']);

      const back = await rig.rotate('c');
      expect(back.code, back.text).toBe(0);
      expect((await rig.ledger()).get(rig.ids.c)).toMatchObject({ state: 'active', revision: v.revision });
      await clean();
    });

    it('no token or password in anything the rotators printed', () => {
      const secrets = [rig.manageToken, ...Object.values(rig.storeTokens), ...rig.passwords];
      expect(rig.passwords.size).toBeGreaterThanOrEqual(4);
      for (const o of rig.outputs) for (const s of secrets) expect(o).not.toContain(s);
    });
  },
);

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** When the run's credential was issued, from its log line. */
const issuedAt = (r: { logs: Record<string, unknown>[] }): number => {
  const time = r.logs.find((l) => l['msg'] === 'credential issued and stored')?.['time'];
  return typeof time === 'string' ? Date.parse(time) : Date.now();
};
