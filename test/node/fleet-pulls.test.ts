/**
 * The fleet where it matters: pods of the node cluster (a, the stack's one cluster with a node) pull from
 * Gitea with the fleet's token while FLEET_PULL_ROTATIONS fleet rotations run through the real CLI — a mints
 * a new token (`--reissue`) and rolls it out, b and c roll it out, a's next run revokes the old one — and not
 * one pull fails. b and c have no node: the rig checks their namespaces instead (no Secret holds a revoked
 * token). A control namespace whose pods use a revoked token runs the same detector and must show failures
 * (the detector sees what it should). Settle time 5 s, as test/node/zero-failed-pulls.test.ts uses on its
 * one node.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cluster } from '../helpers/fleet.ts';
import { FleetRig, NAMES } from '../helpers/fleet-rig.ts';
import { createToken, deleteToken, gitea as g } from '../helpers/gitea.ts';
import { NODE_SELECTOR, nodeNamespace, pullSecret } from '../helpers/node.ts';
import { deleteNamespaces, sleep, suffix } from '../helpers/stack.ts';
import { PullWorkload } from './pull-workload.ts';

const sfx = suffix();
const ROTATIONS = Number(process.env['FLEET_PULL_ROTATIONS'] ?? 3);
const rig = new FleetRig(sfx, 2);
const control = `flp-${sfx}-control`;
const ours = new PullWorkload(rig.namespaces, { intervalMs: 1500, images: [g.image] });
const detector = new PullWorkload([control], {
  intervalMs: 6000,
  images: [g.image],
  pullSecrets: ['revoked'],
});

beforeAll(async () => {
  await rig.setup();
  rig.write(rig.config({ rotation: { settleSeconds: 5 } }));
  // The rig's namespaces in cluster a: their pods run on the node (PodNodeSelector reads this at admission).
  const a = cluster('a').api();
  for (const name of rig.namespaces) {
    const ns = await a.readNamespace({ name });
    ns.metadata = { ...ns.metadata, annotations: { ...ns.metadata?.annotations, ...NODE_SELECTOR } };
    await a.replaceNamespace({ name, body: ns });
  }
  await nodeNamespace(control);
  const t = await createToken(g.puller, g.pullerPassword, `flp-${sfx}-revoked`);
  await pullSecret(control, 'revoked', { [g.registry]: { username: g.puller, password: t.sha1 } });
  expect(await deleteToken(g.puller, t.id)).toBe(204);
});
afterAll(async () => {
  await Promise.all([ours.stop(), detector.stop()]);
  await rig.cleanup();
  await deleteNamespaces([control]);
});

it(`no pull fails on the node cluster across ${ROTATIONS} fleet rotations, each revoking the old token once all three clusters have the new one`, async () => {
  // First runs: a mints and rolls out; b and c register and roll out.
  for (const n of NAMES) {
    const r = await rig.rotate(n);
    expect(r.code, r.text).toBe(0);
  }
  for (const wl of [ours, detector]) {
    await wl.addLongLived();
    wl.start();
  }
  for (let k = 1; k <= ROTATIONS; k++) {
    if (k === 2) await ours.addLongLived(); // pods created with the secret names of a later rotation
    const old = await rig.stored();
    const issued = await rig.rotate('a', '--reissue');
    expect(issued.code, issued.text).toBe(0);
    const next = await rig.stored();
    expect(next.tokenId).not.toBe(old.tokenId);
    const [b, c] = await Promise.all([rig.rotate('b'), rig.rotate('c')]);
    for (const r of [b, c]) expect(r.code, r.text).toBe(0);
    // Until a's next run, both tokens are valid: it revokes only then.
    expect((await rig.alive()).map((t) => String(t.id)).sort()).toEqual([old.tokenId, next.tokenId].sort());
    const revoked = await rig.rotate('a');
    expect(revoked.code, revoked.text).toBe(0);
    expect((await rig.alive()).map((t) => String(t.id))).toEqual([next.tokenId]);
    expect((await rig.check()).problems).toEqual([]);
  }
  // Pulls after the last revocation count too: the long-lived pods restart (and pull) every few seconds.
  await sleep(20_000);
  await Promise.all([ours.stop(), detector.stop()]);

  const report = await ours.report();
  const seen = await detector.report();
  expect(ours.errors).toEqual([]);
  expect(report.podsNeverStarted, JSON.stringify(report)).toBe(0);
  expect(report.pulled, JSON.stringify(report)).toBeGreaterThan(report.pods);
  expect(
    { failures: report.failureTotal, stuck: report.podsEndedInPullBackOff },
    report.samples.join('\n'),
  ).toEqual({
    failures: 0,
    stuck: 0,
  });
  expect(seen.failureTotal, JSON.stringify(seen)).toBeGreaterThan(0);
  // No token in what the rotators printed.
  const printed = rig.outputs.join('\n');
  for (const p of rig.passwords) expect(printed).not.toContain(p);
  process.stderr.write(
    `fleet pulls: ${ROTATIONS} rotations, ${report.pods} pods, ${report.pulled} pulls, ${report.failureTotal} failed; control: ${seen.failureTotal} failures\n`,
  );
});
