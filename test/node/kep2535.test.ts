/**
 * KEP-2535 (KubeletEnsureSecretPulledImages) on the stack's kubelet: a pod may start a container from an
 * image already on the node only if a pull secret it presents *now* matches the credentials that pulled
 * it. A pod whose only pull secret was deleted cannot restart its container; a pod whose old secret the
 * rotator kept and refreshed can — under the default policy and under AlwaysVerify.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileConfig, useCreds, Workspace } from '../helpers/rotator.ts';
import {
  imageVariant,
  killContainer,
  nodeNamespace,
  podEvents,
  pullOutcome,
  pullSecret,
  registryUsers,
  restartKubelet,
  runPod,
} from '../helpers/node.ts';
import { api, deleteNamespaces, pullSecretsOf, stack, suffix, waitFor } from '../helpers/stack.ts';

const sfx = suffix();
const namespaces: string[] = [];
afterAll(async () => {
  restartKubelet('NeverVerifyPreloadedImages');
  await deleteNamespaces(namespaces);
});

async function restartCount(ns: string, pod: string): Promise<number> {
  const p = await api().readNamespacedPod({ namespace: ns, name: pod });
  return p.status?.containerStatuses?.[0]?.restartCount ?? 0;
}

/**
 * Kills the container (as a crash would) and waits for the kubelet to start it again — each start re-checks
 * the pod's credentials — or for it to get stuck on its image. Killed rather than left to exit by itself,
 * so that every start counted began after the moment the test set up (a revocation, a deleted secret).
 */
async function crashAndRestart(ns: string, pod: string): Promise<string> {
  const from = await restartCount(ns, pod);
  await killContainer(ns, pod);
  return waitFor(
    `${ns}/${pod} started again`,
    async () => {
      const p = await api().readNamespacedPod({ namespace: ns, name: pod });
      const s = p.status?.containerStatuses?.[0];
      const w = s?.state?.waiting?.reason;
      if (w === 'ErrImagePull' || w === 'ImagePullBackOff') return w;
      return (s?.restartCount ?? 0) > from && s?.state?.running ? 'restarted' : undefined;
    },
    180_000,
  );
}

/** The rotator managing the default ServiceAccount of `ns` from a file store, old secrets kept while pods use them. */
function rotatorFor(ns: string): Workspace {
  const w = new Workspace();
  fileConfig(
    w,
    { name: 'kep', secretName: 'regcred', namespaces: { names: [ns] } },
    { rotation: { retainSuperseded: '0' }, lock: { namespace: 'default', name: `kep-${ns}` } },
  );
  return w;
}

/** Both halves under one kubelet policy, side by side: their namespaces, images and users are their own. */
async function scenario(policy: string): Promise<void> {
  const tag = `${policy.toLowerCase()}-${sfx}`;
  await Promise.all([withoutRotator(policy, tag), withRotator(policy, tag)]);
}

async function withoutRotator(policy: string, tag: string): Promise<void> {
  // Without the rotator: the only pull secret is deleted while the pod lives.
  const plain = `kep-plain-${tag}`.slice(0, 60);
  await nodeNamespace(plain);
  namespaces.push(plain);
  await pullSecret(plain, 's1', {
    [stack.registryBasic]: { username: stack.user, password: stack.password },
  });
  const img1 = await imageVariant('basic', `p-${tag}`);
  await runPod(plain, 'app', { images: [img1], pullSecrets: ['s1'] });
  expect(await pullOutcome(plain, 'app')).toEqual({ state: 'started' });
  await api().deleteNamespacedSecret({ namespace: plain, name: 's1' });
  const withoutSecret = await crashAndRestart(plain, 'app');
  const ev = await podEvents(plain, 'app');
  console.log(
    `[node] KEP-2535 ${policy}: cached image, only pull secret deleted, container restart → ${withoutSecret}; events: ${[...new Set(ev.map((e) => e.reason))].join(', ')}`,
  );
  expect(withoutSecret).not.toBe('restarted');

  // Same credentials under another name: matched by hash, the cached image is used without a pull.
  await pullSecret(plain, 's2', {
    [stack.registryBasic]: { username: stack.user, password: stack.password },
  });
  await runPod(plain, 'same-creds', { images: [img1], pullSecrets: ['s2'] });
  expect(await pullOutcome(plain, 'same-creds')).toEqual({ state: 'started' });
}

async function withRotator(policy: string, tag: string): Promise<void> {
  // With the rotator: new credentials roll out, the old secret stays (a live pod names it) with the new data,
  // the old credential is revoked at the registry — and the pod's container still restarts.
  const managed = `kep-rot-${tag}`.slice(0, 60);
  await nodeNamespace(managed);
  namespaces.push(managed);
  const user = `kep-${tag}`;
  registryUsers.add(user, `pw-${sfx}-one`);
  const w = rotatorFor(managed);
  w.cred('user', user);
  w.cred('pass', `pw-${sfx}-one`);
  expect((await w.rotate()).code).toBe(0);
  const img2 = await imageVariant('basic', `r-${tag}`);
  await runPod(managed, 'app', { images: [img2] });
  expect(await pullOutcome(managed, 'app')).toEqual({ state: 'started' });
  const oldName = (await pullSecretsOf(managed))[0]!;
  useCreds(w, 2);
  const r = await w.rotate();
  expect(r.code, r.text).toBe(0);
  expect(await pullSecretsOf(managed)).not.toEqual([oldName]);
  registryUsers.revoke(user);
  // Killed after the revocation: this start's credential check cannot have begun before it.
  expect(await crashAndRestart(managed, 'app')).toBe('restarted');
  const after = (await podEvents(managed, 'app')).filter(
    (e) =>
      (e.reason === 'Failed' && /pull/i.test(e.message)) ||
      (e.reason === 'BackOff' && /pulling/.test(e.message)),
  );
  expect(after).toEqual([]);
  console.log(
    `[node] KEP-2535 ${policy}: rotator kept ${oldName} (refreshed), old credential revoked, container killed and restarted without a pull failure`,
  );
  // A new pod under the ServiceAccount pulls with the new secret.
  await runPod(managed, 'new', { images: [img2] });
  expect(await pullOutcome(managed, 'new')).toEqual({ state: 'started' });
}

describe('KEP-2535: credentials re-checked at every container start', () => {
  beforeAll(() => restartKubelet('NeverVerifyPreloadedImages'));
  it('default policy NeverVerifyPreloadedImages', () => scenario('NeverVerifyPreloadedImages'), 600_000);
  it('policy AlwaysVerify', async () => {
    restartKubelet('AlwaysVerify');
    await scenario('AlwaysVerify');
  }, 600_000);
});
