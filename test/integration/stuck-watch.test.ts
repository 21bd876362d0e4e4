/**
 * /healthz turns unhealthy when the watches are stuck: the API server stops answering (the fault proxy holds
 * every request and passes nothing more on the open watches, without closing them), and scheduler mode,
 * which cannot react to anything then, says so with a 503 naming the silent watches. A quiet but answering
 * server never trips it; once the server answers again, /healthz recovers without a restart.
 */
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { fileConfig, spawnCli, useCreds, Workspace } from '../helpers/rotator.ts';
import { env, freePort, sleep, stack, suffix, testNamespaces, waitFor } from '../helpers/stack.ts';
import { FaultProxy, proxiedKubeconfig } from '../reliability/fault-proxy.ts';

const sfx = suffix();
const spaces = testNamespaces(`sw-${sfx}`);
afterAll(spaces.cleanup);

interface Health {
  status: string;
  stuckWatches?: { watch: string; silentSeconds: number }[];
}

it('a server that stops answering makes /healthz 503 within stuckWatchSeconds; it recovers when answers resume', async () => {
  const a = await spaces.make('a');
  const proxy = new FaultProxy(env('REGCRED_STACK_APISERVER'), join(stack.run, 'pki'), {
    rate: 0,
    faults: [],
  });
  const w = new Workspace();
  const kubeconfig = proxiedKubeconfig(w.dir, await proxy.listen());
  const port = await freePort();
  useCreds(w, 1);
  fileConfig(
    w,
    { name: 'sw', secretName: `rc-sw-${sfx}`, namespaces: { names: [a] } },
    {
      schedule: '0 3 1 1 *',
      metrics: { port, stuckWatchSeconds: 4 },
      lock: { namespace: 'default', name: `sw-${sfx}`, leaseDurationSeconds: 15 },
    },
  );
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
  const health = async () => {
    const r = await fetch(`http://127.0.0.1:${port}/healthz`);
    return { code: r.status, body: (await r.json()) as Health };
  };
  const watchUp = async () =>
    (await (await fetch(`http://127.0.0.1:${port}/metrics`)).text())
      .split('\n')
      .filter((l) => l.startsWith('regcred_rotator_watch_up{'));
  try {
    await s.seen;
    // Quiet but answering, for twice the limit: the server ends each watch at half of it, never a 503.
    for (const end = Date.now() + 8_000; Date.now() < end; await sleep(250)) {
      const h = await health();
      expect(h.code, JSON.stringify(h.body)).toBe(200);
      expect(h.body.status).toBe('ok');
    }

    proxy.stall();
    const stalledAt = Date.now();
    const stuck = await waitFor(
      '/healthz to turn unhealthy',
      async () => {
        const h = await health();
        return h.code === 503 ? h.body : undefined;
      },
      20_000,
    );
    const after = (Date.now() - stalledAt) / 1000;
    console.log(`[stuck-watch] /healthz 503 after ${after.toFixed(1)} s of silence (limit 4 s)`);
    expect(stuck.status).toBe('unhealthy');
    expect(stuck.stuckWatches?.map((x) => x.watch).sort()).toEqual([`secrets ${a}`, `serviceaccounts ${a}`]);
    for (const x of stuck.stuckWatches ?? []) expect(x.silentSeconds).toBeGreaterThanOrEqual(4);
    // Silence since the last sign of life, which came at most half the limit before the stall.
    expect(after).toBeGreaterThanOrEqual(2);
    // The silent connections were dropped: the watches count as down, the log says why.
    await s.until(/no answer from the API server on this watch for 4 s/, 10_000);
    await waitFor('the watches down in the metrics', async () =>
      (await watchUp()).every((l) => l.endsWith(' 0')) ? true : undefined,
    );

    proxy.answer();
    const answeredAt = Date.now();
    await waitFor(
      '/healthz healthy again',
      async () => ((await health()).code === 200 ? true : undefined),
      60_000,
    );
    console.log(
      `[stuck-watch] healthy again ${((Date.now() - answeredAt) / 1000).toFixed(1)} s after answers resumed`,
    );
    expect((await health()).body.stuckWatches).toBeUndefined();
    await waitFor('the watches up in the metrics', async () =>
      (await watchUp()).every((l) => l.endsWith(' 1')) ? true : undefined,
    );
  } catch (e) {
    console.log(`[stuck-watch] scheduler log:\n${s.stderr().split('\n').slice(-30).join('\n')}`);
    throw e;
  } finally {
    proxy.answer();
    s.child.kill('SIGTERM');
    await s.closed;
    await proxy.close();
  }
});
