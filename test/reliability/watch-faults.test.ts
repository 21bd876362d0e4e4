/**
 * Scheduler mode under a hostile network: its watches go through the fault proxy, which cuts them after a
 * moment, answers 410 Gone, holds events back, and fails ordinary requests (429, 5xx, resets). Meanwhile
 * namespaces appear and get labelled, the seed's `kubectl patch` wipes ServiceAccount lists, and our
 * secrets are edited by hand. No change may be lost — the final state converges — and I1/I2 hold at every
 * event.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fileConfig, spawnCli, useCreds, Workspace } from '../helpers/rotator.ts';
import {
  api,
  createNamespace,
  deleteNamespaces,
  env,
  kubectl,
  pullSecretsOf,
  sleep,
  stack,
  suffix,
  waitFor,
} from '../helpers/stack.ts';
import { FaultProxy, proxiedKubeconfig } from './fault-proxy.ts';
import { currentRevision, InvariantProber } from './prober.ts';

const sfx = suffix();
const created: string[] = [];
const prober = new InvariantProber((ns) => ns.startsWith(`wf-${sfx}-`));
let setupDone = 0;
afterAll(() => deleteNamespaces(created));
beforeAll(async () => {
  await prober.start();
  setupDone = await currentRevision();
});

it('cut watches, 410 Gone, delayed events and API faults: nothing lost, invariants intact', async () => {
  const proxy = new FaultProxy(env('REGCRED_STACK_APISERVER'), join(stack.run, 'pki'), {
    rate: 0.3,
    faults: ['watch-cut', 'watch-410', 'watch-delay', '429', '500', 'reset'],
    seed: 4242,
  });
  const port = await proxy.listen();
  const w = new Workspace();
  const kubeconfig = proxiedKubeconfig(w.dir, port);
  fileConfig(
    w,
    { name: 'wf', secretName: `rc-wf-${sfx}`, namespaces: { selector: `wf=${sfx}` } },
    {
      schedule: '0 3 1 1 *',
      metrics: { port: 0 },
      lock: { namespace: 'default', name: `wf-${sfx}`, leaseDurationSeconds: 15 },
    },
  );
  useCreds(w, 1);
  const s = spawnCli(
    [
      'scheduler',
      '--config',
      w.config,
      '--kubeconfig',
      kubeconfig,
      '--log-format',
      'json',
      '--request-timeout',
      '3s',
    ],
    /"msg":"run summary"/,
  );
  try {
    await s.seen;
    const names = Array.from({ length: 12 }, (_, i) => `wf-${sfx}-${i}`);
    for (const [i, n] of names.entries()) {
      await createNamespace(n, i < 8 ? { wf: sfx } : {});
      created.push(n);
      await sleep(300);
    }
    for (const n of names.slice(8)) kubectl('label', 'namespace', n, `wf=${sfx}`);
    const ours = (p: string[]) => p.filter((x) => x.startsWith(`rc-wf-${sfx}-`));
    await waitFor(
      'the first namespaces provisioned',
      async () => (ours(await pullSecretsOf(names[0]!)).length === 1 ? true : undefined),
      60_000,
    );
    for (const n of names.slice(0, 4))
      kubectl(
        '-n',
        n,
        'patch',
        'serviceaccount',
        'default',
        '-p',
        '{"imagePullSecrets":[{"name":"regcred"}]}',
      );
    for (const n of names.slice(4, 6)) {
      const [name] = ours(await pullSecretsOf(n));
      if (!name) continue;
      const sec = await api().readNamespacedSecret({ namespace: n, name });
      await api().replaceNamespacedSecret({
        namespace: n,
        name,
        body: { ...sec, data: { '.dockerconfigjson': Buffer.from('{"auths":{}}').toString('base64') } },
      });
    }
    await waitFor(
      'every namespace converged',
      async () => {
        for (const n of names) {
          const p = await pullSecretsOf(n);
          if (ours(p).length !== 1) return undefined;
          const sec = await api().readNamespacedSecret({ namespace: n, name: ours(p)[0]! });
          if (
            Buffer.from(sec.data?.['.dockerconfigjson'] ?? '', 'base64')
              .toString()
              .includes('"auths":{}')
          )
            return undefined;
        }
        return true;
      },
      120_000,
    );
    for (const n of names.slice(0, 4)) expect((await pullSecretsOf(n))[0]).toBe('regcred');
  } catch (e) {
    const tail = s
      .stderr()
      .split('\n')
      .filter((l) => !/"msg":"(registry verification|namespace converged)"/.test(l))
      .slice(-40);
    writeFileSync(join(w.dir, 'scheduler.log'), s.stderr());
    console.log(
      `[reliability] watch faults: full log in ${join(w.dir, 'scheduler.log')}; before the failure:\n${tail.join('\n')}\nproxy: ${JSON.stringify(proxy.stats)}`,
    );
    throw e;
  } finally {
    s.child.kill('SIGTERM');
    await s.closed;
    await proxy.close();
  }
  const watchFaults = proxy.stats['watch-cut'] + proxy.stats['watch-410'] + proxy.stats['watch-delay'];
  await sleep(500);
  const report = prober.check(undefined, setupDone);
  console.log(
    `[reliability] watch faults: ${proxy.stats['watch-cut']} cut, ${proxy.stats['watch-410']} 410 Gone, ${proxy.stats['watch-delay']} delayed, ${proxy.stats['429'] + proxy.stats['500'] + proxy.stats.reset} API faults; ${report.events} events checked, ${report.violations.length} violations; relists: ${/"relists":\d+/.exec(s.stderr())?.[0] ?? 'n/a'}`,
  );
  expect(watchFaults).toBeGreaterThan(0);
  expect(prober.errors).toEqual([]);
  expect(report.violations).toEqual([]);
}, 300_000);
