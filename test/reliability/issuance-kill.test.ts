/**
 * I4 for rotate-at-the-source: for each registry class (Gitea tokens: many-tokens; the Harbor double's robot
 * pair: paired-accounts; the ACR double's token slots: dual-slot), a `--rotate-now --reissue` run is
 * SIGKILLed at each step of the lifecycle — after the registry issued and before the store write, after the
 * store write, mid-rollout, before the revocation and after it. Each kill is exact: a fault proxy in front
 * of the store, the registry's API or the API server holds the one request of that step (before or after the
 * server applied it), the rotator is killed while it waits for the answer, and the state at the kill is
 * checked. Then one clean run, and one more once `orphanGraceMinutes` (1) has passed: exactly the expected
 * credentials exist at the registry, counted there (no orphaned token, no extra enabled robot, no burned
 * slot), the store's newest version works at the registry, every namespace is on it, and the prober saw
 * I1/I2 hold at every event. The fifteen targets are independent and run side by side. Their namespaces are
 * on the node, pulling from their registry from before their kill until after the last run
 * (issuance-pulls.ts): 0 failed pulls, per registry class.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { IssuerLab, KINDS, type Kind, type LabTarget } from '../helpers/issuer-lab.ts';
import type { CliResult } from '../helpers/rotator.ts';
import { env, stack } from '../helpers/stack.ts';
import { FaultProxy, proxiedKubeconfig, type Held } from './fault-proxy.ts';
import {
  expectOk,
  expectSettled,
  graceEnds,
  issuanceOf,
  revokeWrite,
  storedId,
  storeWrite,
  twoRotations,
} from './issuance-checks.ts';
import { IssuancePulls } from './issuance-pulls.ts';
import { currentRevision, InvariantProber } from './prober.ts';

const STEPS = ['issued', 'stored', 'rollout', 'revoke-before', 'revoke-after'] as const;
type Step = (typeof STEPS)[number];

const lab = new IssuerLab(undefined, { onNode: true });
const cases = STEPS.flatMap((step) =>
  KINDS.map((kind) => ({
    kind,
    step,
    t: lab.target(kind, `${kind[0] ?? ''}-${step}`, { orphanGraceMinutes: 1 }),
  })),
);
const prober = new InvariantProber((ns) => ns.startsWith(`${lab.prefix}-`));
const pki = () => join(stack.run, 'pki');
const timings: string[] = [];
let pulls: IssuancePulls | undefined;
let setupDone = 0;
let t0 = 0;
const mark = (what: string) => timings.push(`${what} ${Math.round((Date.now() - t0) / 1000)} s`);

beforeAll(async () => {
  t0 = Date.now();
  await prober.start();
  await lab.setup();
  pulls = new IssuancePulls(lab);
  setupDone = await currentRevision();
  mark('setup');
}, 180_000);
afterAll(async () => {
  console.log(`[reliability] issuance kills: ${timings.join('; ')}`);
  await pulls?.cleanup();
  await lab.cleanup();
});

const all = () =>
  lab.config(
    cases.map((c) => c.t.entry()),
    { lock: `all-${Date.now()}` },
  );

interface Kill {
  step: Step;
  kind: Kind;
  t: LabTarget;
  old: { version: number; id: string };
  run: CliResult;
  /** The orphan's id (a credential issued and never stored), for step `issued`. */
  orphan?: string | undefined;
  /** When the killed run was started, and when its held request was reached (the orphan was issued between). */
  spawnedAt: number;
  heldAt: number;
}

/** One `--rotate-now --reissue` of `t`, SIGKILLed while the request of `step` is held. */
async function killAt(kind: Kind, step: Step, t: LabTarget): Promise<Kill> {
  const before = await t.stored();
  const old = { version: before.version, id: storedId(before) };
  const registry = new FaultProxy(t.upstream, pki(), { rate: 0, faults: [] });
  const store = new FaultProxy(env('REGCRED_STACK_BAO_ADDR'), pki(), { rate: 0, faults: [] });
  const kube = new FaultProxy(env('REGCRED_STACK_APISERVER'), pki(), { rate: 0, faults: [] });
  const [rp, sp, kp] = await Promise.all([registry.listen(), store.listen(), kube.listen()]);
  const held: Held = {
    issued: () => store.hold(storeWrite(t), 'before'),
    stored: () => store.hold(storeWrite(t), 'after'),
    // The second write into the target's namespaces: one namespace's Secret is there, the rest is not.
    rollout: () =>
      kube.hold(
        {
          method: /^(POST|PUT|PATCH|DELETE)$/,
          path: new RegExp(`/api/v1/namespaces/${t.name}-\\d/(secrets|serviceaccounts)`),
          skip: 1,
        },
        'after',
      ),
    'revoke-before': () => registry.hold(revokeWrite(t, old.id), 'before'),
    'revoke-after': () => registry.hold(revokeWrite(t, old.id), 'after'),
  }[step]();
  let pid = 0;
  const spawnedAt = Date.now();
  const config = lab.config([t.entry(`https://127.0.0.1:${rp}`)], {
    lock: `kill-${t.name}`,
    store: `https://127.0.0.1:${sp}`,
  });
  const running = lab.run(
    config,
    [
      '--kubeconfig',
      proxiedKubeconfig(mkdtempSync(join(tmpdir(), 'issuance-kill-')), kp),
      '--rotate-now',
      '--reissue',
    ],
    { onSpawn: (p) => (pid = p) },
  );
  const ended = running.then(
    (r) => new Error(`the run ended (exit ${r.code}) before the ${step} step: ${r.text}`),
  );
  const first = await Promise.race([held.reached, ended]);
  if (first instanceof Error) throw first;
  const heldAt = Date.now();
  process.kill(pid, 'SIGKILL');
  const run = await running;
  held.drop();
  await Promise.all([registry.close(), store.close(), kube.close()]);
  expect(run.code, `${kind}/${step}: killed`).toBe(128);
  const kill: Kill = { step, kind, t, old, run, spawnedAt, heldAt };
  await checkAtKill(kill);
  return kill;
}

/** The state the kill left, as the registry and the store show it: proof that it hit the step. */
async function checkAtKill(k: Kill): Promise<void> {
  const { t, old, step } = k;
  const now = await t.stored();
  const active = await t.active();
  const logs = k.run.logs.map((l) => l['msg']);
  const at = `${k.kind}/${step}`;
  if (step === 'issued') {
    expect(now.version, at).toBe(old.version);
    expect(active, at).toContain(old.id);
    expect(active, at).toHaveLength(2);
    k.orphan = active.find((id) => id !== old.id);
    return;
  }
  expect(now.version, at).toBe(old.version + 1);
  expect(storedId(now), at).not.toBe(old.id);
  expect(active, at).toContain(storedId(now));
  if (step === 'stored') {
    expect(logs, at).not.toContain('credential issued and stored');
    return;
  }
  expect(logs, at).toContain('credential issued and stored');
  if (step === 'rollout') {
    expect(logs, at).not.toContain('rollout complete');
    expect(active, at).toContain(old.id);
    return;
  }
  expect(logs, at).toContain('rollout complete');
  expect(logs, at).not.toContain('credential revoked');
  if (step === 'revoke-before') expect(active, at).toContain(old.id);
  else expect(active, at).not.toContain(old.id);
}

it('a run killed at every step of the lifecycle is finished by the next runs, for every registry class', async () => {
  // Two rotations, the pulls start, then the kills. The robot and slot a kill issues into have held a
  // credential before (the refresh / regeneration paths, not only the first create). The steps that leave
  // an orphan go first: their grace time runs while the other targets rotate and are killed.
  const p = pulls!;
  const kills: Kill[] = [];
  for (const first of [true, false]) {
    const these = cases.filter((c) => (c.step === 'issued') === first);
    await twoRotations(
      lab,
      these.map((c) => c.t),
      `prepare-${first}`,
    );
    await p.start(these.map((c) => c.t));
    kills.push(...(await Promise.all(these.map((c) => killAt(c.kind, c.step, c.t)))));
    mark(first ? 'orphaning kills' : 'other kills');
  }
  // Pods that hold the Secret names the kills left: they pull again after the next run revoked.
  await p.addLongLived();

  const cleanStarted = Date.now();
  const clean = await lab.run(all(), ['--rotate-now']);
  const cleanEnded = Date.now();
  expectOk(clean, 'clean run');
  const orphans = kills.filter((k) => k.step === 'issued');
  const waiting: Kill[] = [];
  for (const k of kills) {
    const at = `${k.kind}/${k.step} after the clean run`;
    if (k.step !== 'issued') {
      await expectSettled(k.t, at);
      continue;
    }
    // Issued and never stored: never rolled out, and left alone while it may still be in flight (another
    // run's, about to be stored); revoked once older than the grace time — by this run already when the
    // machine was slow enough, never earlier.
    expect((await k.t.stored()).version, at).toBe(k.old.version);
    expect(await k.t.storedWorks(), at).toBe(true);
    expect(await k.t.divergence(), at).toEqual([]);
    const seen = issuanceOf(clean, k.t.name);
    if ((seen.revoked ?? []).length > 0) {
      expect(cleanEnded - k.spawnedAt, `${at}: revoked within its grace time`).toBeGreaterThanOrEqual(59_000);
      expect(seen.revoked, at).toHaveLength(1);
      await expectSettled(k.t, at);
      continue;
    }
    expect(cleanStarted - k.heldAt, `${at}: left alone past its grace time`).toBeLessThan(61_000);
    expect(await k.t.active(), at).toEqual(expect.arrayContaining([k.old.id, k.orphan]));
    // Its grace time counts from when the registry issued it: between the killed run's start and the kill.
    const until = graceEnds(clean, k.t.name) ?? 0;
    expect(until - k.spawnedAt, `${at}: grace time end`).toBeGreaterThanOrEqual(59_000);
    expect(until - k.heldAt, `${at}: grace time end`).toBeLessThanOrEqual(60_000);
    waiting.push(k);
  }
  mark('clean run');

  // Once the orphans are older than orphanGraceMinutes, the next run revokes them.
  let lastRun = cleanEnded;
  if (waiting.length > 0) {
    const until = Math.max(...waiting.map((k) => graceEnds(clean, k.t.name) ?? 0));
    await new Promise((r) => setTimeout(r, Math.max(0, until + 1000 - Date.now())));
    const after = await lab.run(
      lab.config(
        waiting.map((k) => k.t.entry()),
        { lock: 'after-grace' },
      ),
      ['--rotate-now'],
    );
    lastRun = Date.now();
    expectOk(after, 'run after the grace time');
    for (const k of waiting) {
      await expectSettled(k.t, `${k.kind}/${k.step} after the grace time`);
      expect(issuanceOf(after, k.t.name).revoked, `${k.kind}: the orphan revoked`).toHaveLength(1);
    }
  }
  console.log(
    `[reliability] issuance kills: ${orphans.length - waiting.length} of ${orphans.length} orphans revoked by the clean run, the rest by one after the grace time`,
  );
  mark('after the grace time');
  await p.finish('issuance kills:', cleanEnded, lastRun);
  mark('pulls checked');

  await new Promise((r) => setTimeout(r, 500));
  const report = prober.check((ns, sa) => (sa === 'default' ? ['team-mirror'] : undefined), setupDone);
  const counts = await Promise.all(cases.map(async (c) => (await c.t.census()).length));
  console.log(
    `[reliability] issuance kills: ${kills.length} SIGKILLs (${STEPS.length} steps × ${KINDS.join('/')}), ` +
      `${counts.reduce((a, b) => a + b, 0)} credentials at the registries for ${cases.length} targets, ` +
      `${report.events} events checked, ${report.violations.length} violations`,
  );
  expect(prober.errors).toEqual([]);
  expect(report.violations).toEqual([]);
}, 600_000);
