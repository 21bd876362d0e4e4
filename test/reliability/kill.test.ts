/**
 * I4 for real: at least 50 rotations of 20 namespaces, each SIGKILLed at a random moment, while the
 * prober records every Secret / ServiceAccount / Pod event; after each kill a rerun must converge. Then the
 * whole history is replayed in revision order and I1/I2 are checked at every event.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fileConfig, MAIN, NODE, useCreds, Workspace } from '../helpers/rotator.ts';
import {
  api,
  createNamespace,
  createPod,
  deleteNamespaces,
  pullSecretsOf,
  setServiceAccountPulls,
  suffix,
} from '../helpers/stack.ts';
import { currentRevision, InvariantProber } from './prober.ts';

const sfx = suffix();
const N = 20;
const names = Array.from({ length: N }, (_, i) => `kill-${sfx}-${i}`);
let setupDone = 0;
const prober = new InvariantProber((ns) => ns.startsWith(`kill-${sfx}-`));
afterAll(() => deleteNamespaces(names));

/** Deterministic randomness, so a failure can be replayed (KILL_SEED=...). */
let seed = Number(process.env['KILL_SEED'] ?? Date.now() % 100_000);
const random = () => ((seed = (seed * 48271) % 2147483647), seed / 2147483647);

beforeAll(async () => {
  await prober.start();
  for (const ns of names) {
    await createNamespace(ns, { kill: sfx });
    await api().createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: { name: 'team-mirror' },
        type: 'kubernetes.io/dockerconfigjson',
        data: {
          '.dockerconfigjson': Buffer.from('{"auths":{"mirror.example.com":{"auth":"bTpw"}}}').toString(
            'base64',
          ),
        },
      },
    });
    await setServiceAccountPulls(ns, ['team-mirror']);
  }
  setupDone = await currentRevision();
});

it('survives ≥50 SIGKILLs mid-rotation with I1/I2 intact at every event, and converges each time', async () => {
  const w = new Workspace();
  const write = (iteration: number) =>
    fileConfig(
      w,
      { name: 'kill', secretName: 'regcred', namespaces: { selector: `kill=${sfx}` } },
      {
        rotation: { retainSuperseded: '0', concurrency: 4 },
        // A killed run leaves its Lease held until it expires; a fresh lock name per iteration keeps the
        // test fast (taking over an expired lock is tested in operate.test.ts).
        lock: { namespace: 'default', name: `kill-${sfx}-${iteration}` },
      },
    );
  const creds = (second: boolean) => useCreds(w, second ? 2 : 1);
  creds(false);
  write(0);
  expect((await w.rotate()).code).toBe(0);
  for (const ns of names.slice(0, 4)) await createPod(ns, 'app');

  let kills = 0;
  let iterations = 0;
  while (kills < 50 && iterations < 150) {
    iterations++;
    creds(iterations % 2 === 1);
    write(iterations);
    const child = spawn(NODE, [MAIN, '--config', w.config, '--log-format', 'json', '--rotate-now'], {
      stdio: 'ignore',
    });
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    const delay = 350 + random() * 700;
    const timer = new Promise<'timer'>((r) => setTimeout(() => r('timer'), delay));
    if ((await Promise.race([exited, timer])) === 'timer') {
      child.kill('SIGKILL');
      kills++;
    }
    await exited;
    write(iterations + 1000); // the killed run's Lease is held until it expires: the rerun uses its own
    const rerun = await w.rotate();
    expect(rerun.code, `rerun after kill ${kills} (seed ${seed}): ${rerun.text}`).toBe(0);
  }
  expect(kills).toBeGreaterThanOrEqual(50);
  // Converged: every ServiceAccount keeps its foreign entry first, then exactly one managed secret.
  for (const ns of names) {
    const pulls = await pullSecretsOf(ns);
    expect(pulls[0], ns).toBe('team-mirror');
    expect(
      pulls.filter((p) => p.startsWith('regcred-')),
      ns,
    ).toHaveLength(1);
  }
  await new Promise((r) => setTimeout(r, 500));
  const report = prober.check(
    (ns, sa) => (sa === 'default' && ns.startsWith(`kill-${sfx}-`) ? ['team-mirror'] : undefined),
    setupDone,
  );
  console.log(
    `[reliability] kill test: ${iterations} rotations, ${kills} SIGKILLs, ${report.events} events checked, ${report.violations.length} violations`,
  );
  expect(prober.errors).toEqual([]);
  expect(report.events).toBeGreaterThan(1000);
  expect(report.violations).toEqual([]);
}, 600_000);
