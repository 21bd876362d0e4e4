/**
 * The run lock when a write's response is lost: the API server applied the write, the connection dropped,
 * the retry was refused (the name taken, or the resourceVersion moved on) — which looks like another holder.
 * The lock reads the Lease again and finds its own identity there: acquiring, renewing and releasing go on.
 * (Before, such a renewal stopped a healthy run — "run lock lost to another holder" — and such an
 * acquisition waited for its own Lease to expire.)
 */
import { CoordinationV1Api } from '@kubernetes/client-node';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, expect, it } from 'vitest';
import { createLogger } from '../../src/base/logger.ts';
import { connectKube } from '../../src/kube/client.ts';
import { K8sGateway } from '../../src/kube/k8s-gateway.ts';
import { RunLock } from '../../src/rotation/batch/lock.ts';
import { Workspace } from '../helpers/rotator.ts';
import { env, kubeConfig, sleep, stack, suffix } from '../helpers/stack.ts';
import { FaultProxy, proxiedKubeconfig } from './fault-proxy.ts';

const name = `lock-fault-${suffix()}`;
const leases = () => kubeConfig().makeApiClient(CoordinationV1Api);
const lease = async () => (await leases().readNamespacedLease({ namespace: 'default', name })).spec ?? {};
afterAll(() => leases().deleteNamespacedLease({ namespace: 'default', name }));

it('a lock write applied with its response lost is recognised as its own: acquire, renew and release go on', async () => {
  const proxy = new FaultProxy(env('REGCRED_STACK_APISERVER'), join(stack.run, 'pki'), {
    rate: 0,
    faults: [],
  });
  const port = await proxy.listen();
  const kube = connectKube({
    kubeconfig: proxiedKubeconfig(new Workspace().dir, port),
    requestTimeoutMs: 5000,
  });
  const lines: string[] = [];
  const logger = createLogger({
    format: 'json',
    level: 'debug',
    destination: new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) }),
  });
  const lock = new RunLock(
    new K8sGateway(kube.rest, logger),
    { namespace: 'default', name, leaseDurationSeconds: 6 },
    logger,
  );
  try {
    // The create is applied and its answer lost; the retry is refused with AlreadyExists.
    proxy.failNext('drop-after-apply');
    expect(await lock.tryAcquire()).toEqual({ acquired: true });
    expect(proxy.stats['drop-after-apply']).toBe(1);
    const acquired = await lease();
    expect(acquired.holderIdentity).toBe(lock.identity);

    // Renewals every 2 s: the first is applied and its answer lost (its retry: Conflict); the next succeeds.
    let lost = false;
    lock.startRenewing(() => (lost = true));
    proxy.failNext('drop-after-apply');
    await sleep(4700);
    expect(proxy.stats['drop-after-apply']).toBe(2);
    expect(lost).toBe(false);
    const renewed = await lease();
    expect(renewed.holderIdentity).toBe(lock.identity);
    const at = (t: unknown) => Date.parse(String(t));
    expect(at(renewed.renewTime)).toBeGreaterThan(at(acquired.renewTime) + 3000);

    // The release is applied and its answer lost: the Lease is free, and no warning says otherwise.
    proxy.failNext('drop-after-apply');
    await lock.release();
    expect(proxy.stats['drop-after-apply']).toBe(3);
    expect((await lease()).holderIdentity ?? '').toBe('');
    const said = lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
    expect(said).not.toContain('run lock lost to another holder; stopping');
    expect(said).not.toContain('could not release the run lock; it expires on its own');
  } finally {
    await lock.release();
    await kube.close();
    await proxy.close();
  }
});
