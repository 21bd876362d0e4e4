/**
 * What a real kubelet (the stack's node: kubelet + containerd + runc) does with pull secrets — the facts the
 * rotator's design rests on (KUBE-FACTS F3, F4, F5, F8, F10/KEP-2535), each observed, not read from the
 * source: Events and pull results as the kubelet reports them, pulling the stack's private images.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imageVariant, nodeNamespace, podEvents, pullOutcome, pullSecret, runPod } from '../helpers/node.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { api, deleteNamespaces, env, sleep, stack, suffix, waitFor } from '../helpers/stack.ts';
import { authorizerRacePods } from './pull-workload.ts';

const kubeletLog = () => readFileSync(join(stack.run, 'logs/kubelet.log'), 'utf8');
/** The stack's Kubernetes minor version (REGCRED_STACK_KUBE_VERSION, e.g. v1.37.2 → 37). */
const kubeMinor = () => Number(/^v1\.(\d+)\./.exec(env('REGCRED_STACK_KUBE_VERSION'))?.[1] ?? NaN);

const sfx = suffix();
const ns = `kf-${sfx}`;
const good = () => ({ [stack.registryBasic]: { username: stack.user, password: stack.password } });
const bad = () => ({ [stack.registryBasic]: { username: stack.user, password: 'wrong-password' } });
const reasons = async (pod: string) => (await podEvents(ns, pod)).map((e) => e.reason);

beforeAll(() => nodeNamespace(ns));
afterAll(() => deleteNamespaces([ns]));

describe('F3: a missing pull secret', () => {
  it('listed next to a valid one: the pull succeeds, and nothing in the API says a secret is missing', async () => {
    await pullSecret(ns, 'f3-valid', good());
    const img = await imageVariant('basic', `f3a-${sfx}`);
    await runPod(ns, 'f3-both', { images: [img], pullSecrets: ['f3-missing', 'f3-valid'] });
    expect(await pullOutcome(ns, 'f3-both')).toEqual({ state: 'started' });
    await sleep(2000);
    const ev = await podEvents(ns, 'f3-both');
    expect(ev.map((e) => e.reason)).toContain('Pulled');
    // Observed: 1.35 emits FailedToRetrieveImagePullSecret whenever a listed secret is missing; 1.37 only
    // when the pull also fails (kubernetes/kubernetes#128732), so here it only logs.
    if (kubeMinor() <= 35) expect(ev.map((e) => e.reason)).toContain('FailedToRetrieveImagePullSecret');
    else expect(ev.map((e) => e.reason)).not.toContain('FailedToRetrieveImagePullSecret');
    expect(kubeletLog()).toMatch(
      // 1.37: secret="ns/f3-missing"; 1.35: secret="" err="secret \"f3-missing\" not found"
      new RegExp(
        `Unable to retrieve pull secret.*pod="${ns}/f3-both" secret=("${ns}/f3-missing"|"" err="secret \\\\"f3-missing\\\\" not found")`,
      ),
    );
  });

  it('listed alone: the kubelet pulls without credentials, and a private image fails (ErrImagePull → ImagePullBackOff)', async () => {
    const img = await imageVariant('basic', `f3b-${sfx}`);
    await runPod(ns, 'f3-only', { images: [img], pullSecrets: ['f3-missing'] });
    const out = await pullOutcome(ns, 'f3-only');
    expect(out.state).toBe('failed');
    await waitFor('ImagePullBackOff', async () =>
      (await reasons('f3-only')).includes('BackOff') ? true : undefined,
    );
    const ev = await podEvents(ns, 'f3-only');
    expect(ev.map((e) => e.reason)).toEqual(
      expect.arrayContaining(['FailedToRetrieveImagePullSecret', 'Failed', 'BackOff']),
    );
    expect(ev.find((e) => e.reason === 'Failed')?.message).toMatch(/401 Unauthorized/);
  });
});

describe('F4: several secrets for the same registry', () => {
  it('an old, now-invalid secret listed before the valid new one: the pull succeeds', async () => {
    await pullSecret(ns, 'f4-old', bad());
    await pullSecret(ns, 'f4-new', good());
    const img = await imageVariant('basic', `f4-${sfx}`);
    await runPod(ns, 'f4', { images: [img], pullSecrets: ['f4-old', 'f4-new'] });
    expect(await pullOutcome(ns, 'f4')).toEqual({ state: 'started' });
  });

  it('the same through the Bearer token flow (Docker Hub, ACR, GHCR)', async () => {
    await pullSecret(ns, 'f4b-old', {
      [stack.registryBearer]: { username: stack.user, password: 'revoked' },
    });
    await pullSecret(ns, 'f4b-new', {
      [stack.registryBearer]: { username: stack.user, password: stack.password },
    });
    const img = await imageVariant('bearer', `f4b-${sfx}`);
    await runPod(ns, 'f4b', { images: [img], pullSecrets: ['f4b-old', 'f4b-new'] });
    expect(await pullOutcome(ns, 'f4b')).toEqual({ state: 'started' });
  });
});

// The two cases are independent pods: they run side by side (each watches its pod for 5 s).
describe('F5: a malformed secret in the list', () => {
  it.concurrent.for<[string, string]>([
    ['auths is a string', '{"auths":"a string"}'],
    ['auth is not base64', JSON.stringify({ auths: { 'x.example.com': { auth: '%%%not-base64' } } })],
  ])(
    '%s, next to a valid one: the pod never starts — a Failed Warning, no pull attempted, no ErrImagePull',
    async ([what, doc], { expect }) => {
      // The kubelet may be refused a secret created a moment before its pod (the kubelet/node-authorizer
      // race, kubernetes/kubernetes#128910): it then pulls without that secret, and the pod starts — not the
      // case under test. Its log says so ("failed to sync secret cache"); the case is tried with a new pod.
      let name = '';
      let failed: Awaited<ReturnType<typeof podEvents>>[number] | undefined;
      const raced: string[] = [];
      for (let attempt = 0; failed === undefined; attempt++) {
        expect(raced.length, `raced: ${raced.join(', ')}`).toBeLessThan(3);
        name = `f5-${what.split(' ')[0]!}-${what.length}${attempt > 0 ? `-${attempt}` : ''}`;
        await pullSecret(ns, name, doc);
        await pullSecret(ns, `${name}-ok`, good());
        const img = await imageVariant('basic', `${name}-${sfx}`);
        await runPod(ns, name, { images: [img], pullSecrets: [name, `${name}-ok`] });
        // The kubelet reports it when it syncs the pod: seconds, or more on a node still busy with other work.
        const seen = await waitFor(
          `a Failed event on ${name}`,
          async () =>
            (await podEvents(ns, name)).find((e) => e.reason === 'Failed') ??
            (authorizerRacePods().has(`${ns}/${name}`) ? 'raced' : undefined),
          60_000,
        );
        if (seen === 'raced') raced.push(name);
        else failed = seen;
      }
      if (raced.length > 0)
        console.log(`[node] F5 (${what}): the authorizer race hit ${raced.join(', ')}; retried`);
      expect(failed.type).toBe('Warning');
      expect(failed.message).toMatch(/^Error: (json: cannot unmarshal|illegal base64)/);
      await sleep(5000);
      const p = await api().readNamespacedPod({ namespace: ns, name });
      const st = p.status?.containerStatuses?.[0];
      // The waiting reason is the parse error itself (or ContainerCreating), never ErrImagePull/ImagePullBackOff:
      // a watch for pull failures does not see this pod.
      const waiting = st?.state?.waiting?.reason ?? '';
      expect(['ContainerCreating', failed.message.replace(/^Error: /, '')]).toContain(waiting);
      expect(st?.imageID ?? '').toBe('');
      expect((await podEvents(ns, name)).map((e) => e.reason)).not.toContain('Pulling');
      console.log(
        `[node] F5 (${what}): ${failed.message} ×${failed.count}; container waiting reason: ${waiting}`,
      );
    },
  );
});

describe('F8: an in-place data update', () => {
  it('is used by the next pull attempt without restarting anything', async () => {
    await pullSecret(ns, 'f8', bad());
    const img = await imageVariant('basic', `f8-${sfx}`);
    await runPod(ns, 'f8', { images: [img], pullSecrets: ['f8'] });
    expect((await pullOutcome(ns, 'f8')).state).toBe('failed');
    const s = await api().readNamespacedSecret({ namespace: ns, name: 'f8' });
    const doc = JSON.stringify({
      auths: {
        [stack.registryBasic]: {
          username: stack.user,
          password: stack.password,
          auth: Buffer.from(`${stack.user}:${stack.password}`).toString('base64'),
        },
      },
    });
    await api().replaceNamespacedSecret({
      namespace: ns,
      name: 'f8',
      body: { ...s, data: { '.dockerconfigjson': Buffer.from(doc).toString('base64') } },
    });
    const restarts = (await api().readNamespacedPod({ namespace: ns, name: 'f8' })).status
      ?.containerStatuses?.[0]?.restartCount;
    await waitFor(
      'the pod to start after the secret update',
      async () =>
        (await pullOutcome(ns, 'f8', 1000).catch(() => undefined))?.state === 'started' ? true : undefined,
      120_000,
    );
    const p = await api().readNamespacedPod({ namespace: ns, name: 'f8' });
    expect(p.metadata?.uid).toBeDefined();
    expect(p.status?.containerStatuses?.[0]?.restartCount).toBe(restarts);
  });
});
