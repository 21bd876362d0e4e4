/**
 * Rotate-at-the-source under faults on the registry's API and on the store's, for each registry class
 * (Gitea: many-tokens; the Harbor double: paired-accounts; the ACR double: dual-slot), through fault proxies
 * in front of Gitea / Harbor / ARM and OpenBao. Above all the lost answers: the registry minted (a token
 * created, a robot refreshed, a slot regenerated) or the store wrote a version, and the rotator never heard.
 * Each `--rotate-now --reissue` run either completes or fails the target with a message and rolls nothing
 * unverified out; then a clean run, and one more once `orphanGraceMinutes` (1) has passed where a
 * credential was left in flight: exactly the expected credentials exist at the registry, counted there, the
 * store's newest version works at the registry, every namespace is on it, and I1/I2 held at every event.
 * The targets' namespaces are on the node, pulling from their registry from before their faulted run
 * until after the last run (issuance-pulls.ts): 0 failed pulls, per registry class.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { IssuerLab, KINDS, type Kind, type LabTarget } from '../helpers/issuer-lab.ts';
import type { CliResult } from '../helpers/rotator.ts';
import { env, snapshotNamespaces, stack } from '../helpers/stack.ts';
import { FaultProxy, type Fault } from './fault-proxy.ts';
import {
  expectOk,
  expectSettled,
  issuanceOf,
  issueWrite,
  revokeWrite,
  storedId,
  storeWrite,
  twoRotations,
  graceEnds,
} from './issuance-checks.ts';
import { IssuancePulls } from './issuance-pulls.ts';
import { currentRevision, InvariantProber } from './prober.ts';

const SCENARIOS = ['issue-lost', 'store-lost', 'retried', 'store-down', 'mixed'] as const;
type Scenario = (typeof SCENARIOS)[number];
const MIXED: Fault[] = ['429', '500', '503', 'reset', 'drop-after-apply'];

const lab = new IssuerLab(undefined, { onNode: true });
const cases = SCENARIOS.flatMap((scenario) =>
  KINDS.map((kind) => ({
    kind,
    scenario,
    t: lab.target(kind, `${kind[0] ?? ''}-${scenario}`, { orphanGraceMinutes: 1 }),
  })),
);
const prober = new InvariantProber((ns) => ns.startsWith(`${lab.prefix}-`));
const pki = () => join(stack.run, 'pki');
const outcomes: string[] = [];
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
  console.log(`[reliability] issuance faults: ${timings.join('; ')}`);
  await pulls?.cleanup();
  await lab.cleanup();
});

interface Faulted {
  kind: Kind;
  scenario: Scenario;
  t: LabTarget;
  run: CliResult;
  old: { version: number; id: string };
  injected: number;
  startedAt: number;
}

/** One `--rotate-now --reissue` of `t` through proxies in front of its registry's API and its store. */
async function faulted(kind: Kind, scenario: Scenario, t: LabTarget): Promise<Faulted> {
  const before = await t.stored();
  const old = { version: before.version, id: storedId(before) };
  const seed = (kind.length + 1) * 7919 + scenario.length;
  const mixed = scenario === 'mixed';
  const registry = new FaultProxy(t.upstream, pki(), {
    rate: mixed ? 0.3 : 0,
    faults: mixed ? MIXED : [],
    seed,
  });
  const store = new FaultProxy(env('REGCRED_STACK_BAO_ADDR'), pki(), {
    rate: mixed ? 0.3 : 0,
    faults: mixed ? MIXED : [],
    seed: seed + 1,
  });
  if (scenario === 'issue-lost') registry.failNext('drop-after-apply', issueWrite(t));
  if (scenario === 'store-lost') store.failNext('drop-after-apply', storeWrite(t));
  if (scenario === 'retried') {
    // 429 with Retry-After on the mint and on the store write; 503 on the first request of the run (a
    // read) and on the revoke; each once.
    registry.failNext('503');
    registry.failNext('429', issueWrite(t));
    registry.failNext('503', revokeWrite(t, old.id));
    store.failNext('429', storeWrite(t));
  }
  // The store refuses the write on every attempt the rotator makes.
  if (scenario === 'store-down') for (let i = 0; i < 3; i++) store.failNext('503', storeWrite(t));
  const [rp, sp] = await Promise.all([registry.listen(), store.listen()]);
  const startedAt = Date.now();
  const config = lab.config([t.entry(`https://127.0.0.1:${rp}`)], {
    lock: `fault-${t.name}`,
    store: `https://127.0.0.1:${sp}`,
  });
  const running = lab.run(config, ['--rotate-now', '--reissue', '--summary']);
  const run = await running;
  await Promise.all([registry.close(), store.close()]);
  const injected = MIXED.concat(['latency'])
    .map((f) => registry.stats[f] + store.stats[f])
    .reduce((a, b) => a + b, 0);
  return { kind, scenario, t, run, old, injected, startedAt };
}

/** What the faulted run itself must have done, per scenario and class. */
async function checkRun(f: Faulted, untouched: string): Promise<void> {
  const { t, run, old } = f;
  const at = `${f.kind}/${f.scenario}`;
  expect(f.injected, `${at}: faults injected`).toBeGreaterThan(0);
  const now = await t.stored();
  if (f.scenario === 'mixed') {
    // Anything may fail here; whatever did, nothing unverified was rolled out (the clean runs converge).
    expect([0, 1], `${at}: ${run.text}`).toContain(run.code);
    return;
  }
  if (f.kind === 'acr' && f.scenario === 'issue-lost') {
    // generateCredentials is never resent: its answer lost burns the slot (it holds a value nobody has).
    // The target fails with that said, the store and every namespace stay as they were.
    expect(run.code, `${at}: ${run.text}`).toBe(1);
    expect(issuanceOf(run, t.name).error?.message, at).toMatch(/slot password\d is burned/);
    expect(run.stdout, at).toMatch(
      /FAILED \(issue\): issuer acr-token .*slot password\d is burned until the next issue/,
    );
    expect(now.version, at).toBe(old.version);
    expect(await snapshotNamespaces(t.namespaces), at).toBe(untouched);
    return;
  }
  if (f.scenario === 'store-down') {
    // Minted, never stored, never rolled out; the message names the store. Where the registry keeps many
    // credentials the fresh one is taken back at once; a slot or a robot in turn waits for its grace time.
    expect(run.code, `${at}: ${run.text}`).toBe(1);
    expect(issuanceOf(run, t.name).error?.message, at).toMatch(
      /store "bao" \(vault https:\/\/127\.0\.0\.1:\d+\): HTTP 503/,
    );
    expect(run.stdout, at).toMatch(/FAILED \(issue\): store "bao"/);
    expect(now.version, at).toBe(old.version);
    expect(await snapshotNamespaces(t.namespaces), at).toBe(untouched);
    const active = await t.active();
    expect(active, at).toContain(old.id);
    expect(active, at).toHaveLength(t.kind === 'gitea' ? 1 : 2);
    return;
  }
  // Waited out, resent where that is safe, or recognised as done: the run completes, and nothing is left over.
  expectOk(run, at);
  expect(now.version, `${at}: exactly one new version`).toBe(old.version + 1);
  expect(storedId(now), at).not.toBe(old.id);
  expect(issuanceOf(run, t.name).revoked, at).toHaveLength(1);
  await expectSettled(t, `${at} after the faulted run`);
}

it('faults on the registry API and the store: each run completes or fails cleanly, and the next runs settle', async () => {
  // Two rotations, the pulls start, then the faulted runs. The scenarios that leave a credential in flight
  // go first: their grace time runs meanwhile.
  const p = pulls!;
  const orphaning = (c: { scenario: Scenario }) => c.scenario === 'issue-lost' || c.scenario === 'store-down';
  const runs: Faulted[] = [];
  for (const first of [true, false]) {
    const these = cases.filter((c) => orphaning(c) === first);
    await twoRotations(
      lab,
      these.map((c) => c.t),
      `prepare-${first}`,
    );
    await p.start(these.map((c) => c.t));
    const done = await Promise.all(
      these.map(async (c) => {
        const untouched = await snapshotNamespaces(c.t.namespaces);
        const f = await faulted(c.kind, c.scenario, c.t);
        await checkRun(f, untouched);
        const failed = issuanceOf(f.run, c.t.name).error;
        outcomes.push(
          `${c.kind}/${c.scenario}: ${f.injected} faults, exit ${f.run.code}${failed ? ` (${failed.step}: ${failed.code})` : ''}`,
        );
        return f;
      }),
    );
    runs.push(...done);
    mark(first ? 'faulted runs that leave credentials in flight' : 'other faulted runs');
  }

  // Pods that hold the Secret names the faulted runs left: they pull again after the next run.
  await p.addLongLived();
  const clean = await lab.run(
    lab.config(
      cases.map((c) => c.t.entry()),
      { lock: 'clean' },
    ),
    ['--rotate-now'],
  );
  const cleanEnded = Date.now();
  let lastRun = cleanEnded;
  expectOk(clean, 'clean run');
  const waiting = runs.filter((f) => graceEnds(clean, f.t.name) !== undefined);
  for (const f of runs) {
    const at = `${f.kind}/${f.scenario} after the clean run`;
    if (!waiting.includes(f)) {
      await expectSettled(f.t, at);
      continue;
    }
    // Issued and never stored (the burned slot): not used, not revoked yet — and the store's works.
    expect(await f.t.storedWorks(), at).toBe(true);
    expect(await f.t.divergence(), at).toEqual([]);
  }
  // A lost generateCredentials answer left a regenerated slot nobody knows: in flight until its grace time.
  const burned = runs.find((f) => f.kind === 'acr' && f.scenario === 'issue-lost');
  if (burned && Date.now() - burned.startedAt < 55_000)
    expect(waiting, 'the burned slot waits').toContain(burned);
  mark('clean run');

  if (waiting.length > 0) {
    const until = Math.max(...waiting.map((f) => graceEnds(clean, f.t.name) ?? 0));
    await new Promise((r) => setTimeout(r, Math.max(0, until + 1000 - Date.now())));
    const after = await lab.run(
      lab.config(
        waiting.map((f) => f.t.entry()),
        { lock: 'after-grace' },
      ),
      ['--rotate-now'],
    );
    lastRun = Date.now();
    expectOk(after, 'run after the grace time');
    for (const f of waiting) await expectSettled(f.t, `${f.kind}/${f.scenario} after the grace time`);
    mark(`after the grace time (${waiting.map((f) => `${f.kind}/${f.scenario}`).join(', ')})`);
  }
  await p.finish('issuance faults:', cleanEnded, lastRun);
  mark('pulls checked');

  await new Promise((r) => setTimeout(r, 500));
  const report = prober.check((ns, sa) => (sa === 'default' ? ['team-mirror'] : undefined), setupDone);
  const counted = (await Promise.all(cases.map(async (c) => (await c.t.census()).length))).reduce(
    (a, b) => a + b,
  );
  console.log(
    `[reliability] issuance faults: ${outcomes.sort().join('; ')}; ${counted} credentials at the registries for ` +
      `${cases.length} targets; ${report.events} events checked, ${report.violations.length} violations`,
  );
  expect(prober.errors).toEqual([]);
  expect(report.violations).toEqual([]);
}, 600_000);
