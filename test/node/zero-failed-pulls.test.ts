/**
 * The product's promise, measured: no image pull fails because of a rotation.
 *
 * A pull workload (pull-workload.ts) runs on the node in four namespaces managed by the rotator, pulling
 * private images from the Basic and the Bearer registry, while ≥20 rotations run: each rolls out a new
 * registry user, and once the rotator reports it rolled out (exit 0), the previous user is revoked at both
 * registries. A quarter of the rotations are SIGKILLed after their first write and rerun; a quarter run
 * through the fault proxy (429, 5xx, resets, latency, dropped responses) and are rerun clean. How causes
 * are told apart: the registries stay up throughout and the managed namespaces see nothing but rotations,
 * so any pull failure there is the rotation's; a control namespace whose pods use a wrong password runs the
 * same detector and must show failures (the detector sees what it should).
 *
 * Beside it, the seed recipe (bench/seed-recipe.sh, once per registry) runs against the same workload with
 * the same rotation and revocation schedule for the first SEED_ROTATIONS rotations; its numbers go in
 * README.md, docs/development.md and bench/README.md.
 */
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FaultProxy, proxiedKubeconfig } from '../reliability/fault-proxy.ts';
import { nodeNamespace, pullSecret, registryUsers } from '../helpers/node.ts';
import { MAIN, NODE, runCli, Workspace } from '../helpers/rotator.ts';
import { api, deleteNamespaces, env, sleep, stack, suffix, waitFor } from '../helpers/stack.ts';
import { PullWorkload, pullsSince, reportLine } from './pull-workload.ts';

const sfx = suffix();
const ROTATIONS = Number(process.env['ZERO_PULL_ROTATIONS'] ?? 20);
/**
 * The seed side takes part in the first rotations only: its pods are broken from its first rotation on,
 * and its workload (pods stuck in back-off, re-created) doubled the node's load — running it through all
 * the rotations made every rotation of ours slower and the test twice as long, proving nothing more.
 */
const SEED_ROTATIONS = Math.min(ROTATIONS, Number(process.env['ZERO_PULL_SEED_ROTATIONS'] ?? 6));
const ours = Array.from({ length: 4 }, (_, i) => `zp-${sfx}-${i}`);
const seeds = Array.from({ length: 4 }, (_, i) => `zs-${sfx}-${i}`);
const control = `zp-${sfx}-control`;
// 12 s, not 5: in a CI run (2026-12-07) with the integration lane beside it, the API server answered a
// create with 504 and a kubelet still pulled with a refreshed Secret's old data 6.5 s after the refresh —
// one pod's pull refused once the old user was revoked; 8 s then failed once more in CI (its reason not
// in the log's tail; run-tests.sh now prints it). The settle time is what covers the nodes' watch lag (the
// product's default is 30 s); this node, that loaded, needs more than 5.
const SETTLE = Number(process.env['ZERO_PULL_SETTLE'] ?? 12);
const SEED = resolve(import.meta.dirname, '../../bench/seed-recipe.sh');

let seed = Number(process.env['ZERO_PULL_SEED'] ?? Date.now() % 100_000);
const random = () => ((seed = (seed * 48271) % 2147483647), seed / 2147483647);

const user = (side: 'r' | 's', k: number) => `zp-${sfx}-${side}${k}`;
const password = (side: 'r' | 's', k: number) => `pw-${sfx}-${side}${k}-${Math.floor(k * 7919 + 13)}`;
const addUser = (side: 'r' | 's', k: number) => registryUsers.add(user(side, k), password(side, k));

const w = new Workspace();
function writeConfig(lock: string): void {
  w.writeConfig({
    stores: { local: { type: 'file', path: w.creds } },
    targets: (['basic', 'bearer'] as const).map((r) => ({
      name: r,
      store: 'local',
      registry: r === 'basic' ? stack.registryBasic : stack.registryBearer,
      credentials: { username: { key: 'user' }, password: { key: 'pass' } },
      secretName: `regcred-${r}`,
      namespaces: { selector: `zp=${sfx}` },
    })),
    // The run reports done only after the settle period, so nodes have the new data before the old
    // credential is revoked. One node that watches its secrets needs seconds (0 fails: pulls started just
    // before the run ended still carry the old data); the product's default, 30 s, is for many nodes.
    rotation: { retainSuperseded: '0', concurrency: 4, settleSeconds: SETTLE },
    lock: { namespace: 'default', name: lock, leaseDurationSeconds: 15 },
  });
}

/** The seed recipe rolls out generation `k` (once per registry, one after the other), then revokes k-1. */
async function seedRotation(k: number): Promise<void> {
  for (const [secret, registry] of [
    ['regcred-basic', stack.registryBasic],
    ['regcred-bearer', stack.registryBearer],
  ] as const) {
    const child = spawn('bash', [SEED, ...seeds], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        ...process.env,
        SECRET: secret,
        REGISTRY: registry,
        REG_USER: user('s', k),
        REG_PASS: password('s', k),
      },
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('close', r));
    if (code !== 0) throw new Error(`seed recipe failed: ${stderr}`);
  }
  registryUsers.revoke(user('s', k - 1));
}

const workloads = {
  ours: new PullWorkload(ours, { intervalMs: 1200 }),
  seed: new PullWorkload(seeds, { intervalMs: 1200 }),
  control: new PullWorkload([control], { intervalMs: 6000, pullSecrets: ['broken'] }),
};

beforeAll(async () => {
  for (const ns of ours) await nodeNamespace(ns, { zp: sfx });
  for (const ns of seeds) await nodeNamespace(ns);
  await nodeNamespace(control);
  await pullSecret(control, 'broken', {
    [stack.registryBasic]: { username: stack.user, password: 'not-the-password' },
    [stack.registryBearer]: { username: stack.user, password: 'not-the-password' },
  });
  // Generation 0 on both sides: the rotator provisions; the seed side starts the way its users set it up.
  addUser('r', 0);
  addUser('s', 0);
  w.cred('user', user('r', 0));
  w.cred('pass', password('r', 0));
  writeConfig(`zp-${sfx}-0`);
  expect((await w.rotate()).code).toBe(0);
  for (const ns of seeds) {
    for (const [name, reg] of [
      ['regcred-basic', stack.registryBasic],
      ['regcred-bearer', stack.registryBearer],
    ] as const)
      await pullSecret(ns, name, { [reg]: { username: user('s', 0), password: password('s', 0) } });
    const sa = await api().readNamespacedServiceAccount({ namespace: ns, name: 'default' });
    await api().replaceNamespacedServiceAccount({
      namespace: ns,
      name: 'default',
      body: { ...sa, imagePullSecrets: [{ name: 'regcred-basic' }, { name: 'regcred-bearer' }] },
    });
  }
});
afterAll(() => deleteNamespaces([...ours, ...seeds, control]));

it(`zero failed pulls across ${ROTATIONS} rotations with revocation, SIGKILLs and API faults; the seed recipe beside it`, async () => {
  for (const wl of Object.values(workloads)) {
    await wl.addLongLived();
    wl.start();
  }
  const log: string[] = [];
  let kills = 0;
  let faulted = 0;
  for (let k = 1; k <= ROTATIONS; k++) {
    if (k % 6 === 0) {
      await workloads.ours.addLongLived();
      if (k <= SEED_ROTATIONS) await workloads.seed.addLongLived();
    }
    addUser('r', k);
    const t0 = Date.now();
    let seedSide = Promise.resolve();
    if (k <= SEED_ROTATIONS) {
      addUser('s', k);
      seedSide = seedRotation(k); // at the same time, on its own namespaces
    }
    const seedMs = seedSide.then(() => Date.now() - t0);
    w.cred('user', user('r', k));
    w.cred('pass', password('r', k));
    const mode = k % 4 === 1 ? 'sigkill' : k % 4 === 2 ? 'faults' : 'plain';
    writeConfig(`zp-${sfx}-${k}`);
    if (mode === 'sigkill') {
      const child = spawn(NODE, [MAIN, '--config', w.config, '--log-format', 'json', '--rotate-now'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      const exited = new Promise((r) => child.on('close', r));
      // Killed at a random moment after its first write (it takes the Lease just before that): half the
      // time among its first writes, else anywhere in its wait for the pods, its later writes and the settle.
      const locked = new Promise<void>((r) => {
        let seen = '';
        child.stderr.on('data', (d: Buffer) => {
          seen = (seen + d.toString()).slice(-4096);
          if (seen.includes('"msg":"run lock acquired"')) r();
        });
      });
      const after = random() < 0.5 ? random() * 300 : random() * (SETTLE + 1) * 1000;
      await Promise.race([exited, locked.then(() => sleep(after))]);
      if (child.exitCode === null) {
        child.kill('SIGKILL');
        kills++;
      }
      await exited;
      writeConfig(`zp-${sfx}-${k}-rerun`); // the killed run's Lease is held until it expires
    } else if (mode === 'faults') {
      const proxy = new FaultProxy(env('REGCRED_STACK_APISERVER'), join(stack.run, 'pki'), {
        rate: 0.25,
        faults: ['429', '500', '503', 'reset', 'latency', 'drop-after-apply'],
        seed: k * 7919,
      });
      const port = await proxy.listen();
      const r = await runCli([
        '--config',
        w.config,
        '--log-format',
        'json',
        '--rotate-now',
        '--kubeconfig',
        proxiedKubeconfig(w.dir, port),
        '--request-timeout',
        '1.5',
        '--wait-for-lock',
      ]);
      await proxy.close();
      writeConfig(`zp-${sfx}-${k}-rerun`); // as after a SIGKILL: the faulted run may have left its Lease held
      faulted += Object.entries(proxy.stats)
        .filter(([f]) => f !== 'forwarded')
        .reduce((n, [, v]) => n + v, 0);
      expect([0, 1], r.text).toContain(r.code);
    }
    const clean = await w.rotate(['--wait-for-lock']);
    expect(clean.code, `rotation ${k} (${mode}): ${clean.text}`).toBe(0);
    // Rolled out: revoke the previous credential at both registries, as a security team would.
    registryUsers.revoke(user('r', k - 1));
    const oursMs = Date.now() - t0;
    log.push(
      `${k}:${mode} ${(oursMs / 1000).toFixed(1)}/${k <= SEED_ROTATIONS ? ((await seedMs) / 1000).toFixed(1) : '-'}s`,
    );
    if (k === SEED_ROTATIONS) await workloads.seed.stop(); // its pods stay, counted in its report
  }
  // After the last revocation, on until the workload has pulled again (ours: 8 pulls; every pull failure
  // in flight shows by then) — at least 5 s, at most 30 s.
  const revoked = Date.now();
  await sleep(5000);
  await waitFor(
    '8 pulls after the last revocation',
    async () => ((await pullsSince(ours, revoked)) >= 8 ? true : undefined),
    25_000,
  );
  for (const wl of Object.values(workloads)) await wl.stop();
  const [r, s, c] = [
    await workloads.ours.report(),
    await workloads.seed.report(),
    await workloads.control.report(),
  ];
  console.log(
    `[node] zero-failed-pulls: ${ROTATIONS} rotations, the seed recipe in the first ${SEED_ROTATIONS} (rotation:mode ours/seed seconds: ${log.join(', ')}), ${kills} SIGKILLs, ${faulted} API faults injected, seed ${seed}`,
  );
  console.log(`[node] ${reportLine('regcred-rotator', r)}`);
  console.log(
    `[node] ${reportLine('seed recipe', s)}${s.samples.length ? `\n  e.g. ${s.samples.slice(0, 3).join('\n  e.g. ')}` : ''}`,
  );
  console.log(`[node] ${reportLine('control (wrong password)', c)}`);
  console.log(
    `[node] the workloads' API calls answered 429/5xx/timeout (retried, not the rotation's): ${Object.entries(
      workloads,
    )
      .map(([k, wl]) => `${k} ${wl.apiRetries}`)
      .join(', ')}`,
  );
  for (const wl of Object.values(workloads))
    expect(wl.errors.filter((e) => !/AlreadyExists|NotFound|404/.test(e))).toEqual([]);
  // The detector sees failures where there are some…
  expect(c.failureTotal).toBeGreaterThan(0);
  expect(c.podsEndedInPullBackOff).toBeGreaterThan(0);
  // …and the workload was real: every pod pulled, many times.
  expect(r.pulled).toBeGreaterThan(ROTATIONS * 10);
  expect(kills).toBeGreaterThan(0);
  expect(faulted).toBeGreaterThan(0);
  // The bar: zero pull failures caused by the rotation. Pods lost to the kubelet/node-authorizer race
  // (an existing secret the kubelet was refused for a moment: authorizerRacePods) are reported above and
  // stay rare; they are not the rotation's doing — a deleted or invalid secret is never counted there.
  // Seen: 1–2 pods of ~310 per run; the bound (3 % of the pods) only guards the classification itself.
  expect(r.authorizerRace.pods.length).toBeLessThanOrEqual(Math.ceil(r.pods * 0.03));

  expect(r.samples).toEqual([]);
  expect(r.failureTotal).toBe(0);
  expect(r.podsEndedInPullBackOff).toBe(0);
  expect(r.podsNeverStarted).toBeLessThanOrEqual(ours.length * 2); // at most the last few, just created
}, 1_800_000);
