/**
 * Faults between the rotator and the API server (our proxy), and in its stores and registry: the run
 * either completes or reports failed namespaces with exit 1, nothing is half-written, the invariants hold
 * at every event, and a rerun converges.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileConfig, useCreds, Workspace } from '../helpers/rotator.ts';
import {
  createNamespace,
  createPod,
  deleteNamespaces,
  env,
  managedSecrets,
  pullSecretsOf,
  setServiceAccountPulls,
  stack,
  suffix,
} from '../helpers/stack.ts';
import { FaultProxy, proxiedKubeconfig, type Fault } from './fault-proxy.ts';
import { currentRevision, InvariantProber } from './prober.ts';

const sfx = suffix();
const cases: [string, Fault[], number][] = [
  ['429 with Retry-After', ['429'], 0.3],
  ['500 and 503', ['500', '503'], 0.3],
  ['connection resets', ['reset'], 0.25],
  ['2 s latency against a 1.5 s request timeout', ['latency'], 0.15],
  ['a dropped response after the server applied the write', ['drop-after-apply'], 0.4],
  ['all of them at once', ['429', '500', '503', 'reset', 'latency', 'drop-after-apply'], 0.3],
];
/** Each case rotates its own 20 namespaces with its own config and Lease: the cases run side by side. */
const namesOf = (c: number) => Array.from({ length: 20 }, (_, i) => `fault-${sfx}-${c}-${i}`);
const names = cases.flatMap((_, c) => namesOf(c));
let setupDone = 0;
const prober = new InvariantProber((ns) => ns.startsWith(`fault-${sfx}-`));
afterAll(() => deleteNamespaces(names));

beforeAll(async () => {
  await prober.start();
  await Promise.all(
    cases.map(async (_, c) => {
      for (const ns of namesOf(c)) {
        await createNamespace(ns, { fault: `${sfx}-${c}` });
        await setServiceAccountPulls(ns, ['team-mirror']);
      }
    }),
  );
  setupDone = await currentRevision();
});

describe('API server faults through the proxy', () => {
  /** A case's rotator: its own namespaces, config and Lease; each run gets the other credentials. */
  const rotators = cases.map((_, c) => {
    const w = new Workspace();
    let second = false;
    const rotateCreds = () => {
      second = !second;
      useCreds(w, second ? 2 : 1);
    };
    const configure = (lock: string) =>
      fileConfig(
        w,
        { name: 'fault', secretName: 'regcred', namespaces: { selector: `fault=${sfx}-${c}` } },
        {
          rotation: { retainSuperseded: '0', concurrency: 4 },
          lock: { namespace: 'default', name: `fault-${sfx}-${c}-${lock}`, leaseDurationSeconds: 15 },
        },
      );
    return { w, rotateCreds, configure, names: namesOf(c) };
  });
  beforeAll(async () => {
    await Promise.all(
      rotators.map(async ({ w, rotateCreds, configure, names }) => {
        configure('first');
        rotateCreds();
        expect((await w.rotate()).code).toBe(0);
        for (const ns of names.slice(0, 4)) await createPod(ns, 'app');
      }),
    );
  });

  const survived: string[] = [];
  it.concurrent.for(cases.map((c, i) => [...c, i] as const))(
    '%s: exit 0, or exit 1 naming failed namespaces; then a clean rerun converges',
    async ([label, faults, rate, c], { expect }) => {
      const { w, rotateCreds, configure, names } = rotators[c]!;
      const proxy = new FaultProxy(env('REGCRED_STACK_APISERVER'), join(stack.run, 'pki'), {
        rate,
        faults,
        seed: label.length * 7919,
      });
      const port = await proxy.listen();
      rotateCreds();
      const r = await w.rotate([
        '--kubeconfig',
        proxiedKubeconfig(w.dir, port),
        '--request-timeout',
        '1.5',
        '--wait-for-lock',
      ]);
      await proxy.close();
      const injected = faults.reduce((n, f) => n + proxy.stats[f], 0);
      expect(injected, JSON.stringify(proxy.stats)).toBeGreaterThan(0);
      expect([0, 1], r.text).toContain(r.code);
      if (r.code === 1) {
        const failed = (r.summary?.['failed'] as unknown[] | undefined) ?? [];
        const targetFailed = (r.summary?.['targets'] as { outcome: string }[] | undefined)?.some(
          (t) => t.outcome === 'failed',
        );
        expect(failed.length > 0 || targetFailed === true || r.summary === undefined, r.text).toBe(true);
      }
      // A run cut off by faults may have left its Lease held until it expires (taking over an expired
      // Lease is operate.test.ts's): its process is gone, and the clean run takes a Lease of its own.
      configure('clean');
      const clean = await w.rotate();
      expect(clean.code, clean.text).toBe(0);
      for (const ns of names) {
        const pulls = await pullSecretsOf(ns);
        expect(pulls[0]).toBe('team-mirror');
        const current = pulls.filter((p) => p.startsWith('regcred-'));
        expect(current, ns).toHaveLength(1);
        expect(await managedSecrets(ns)).toContain(current[0]);
      }
      survived.push(`${label}: ${injected} faults injected, first run exit ${r.code}`);
    },
  );

  it('the invariants held at every event of all those runs', async () => {
    await new Promise((r) => setTimeout(r, 500));
    const report = prober.check((ns, sa) => (sa === 'default' ? ['team-mirror'] : undefined), setupDone);
    expect(prober.errors).toEqual([]);
    console.log(
      `[reliability] fault proxy: ${survived.join('; ')}; ${report.events} events checked, ${report.violations.length} violations`,
    );
    expect(report.violations).toEqual([]);
    expect(report.events).toBeGreaterThan(200);
  });
});
