/**
 * A pod admitted naming an earlier secret of ours that is not there — the name a rotation was replacing
 * when an admission answer (the webhook's, the policy's parameter) or the ServiceAccount plugin's cached
 * copy gave it, in a namespace provisioned at the next revision or after that name was deleted — pulls
 * without credentials. The rotator creates that name again with the current data, and deletes it once no
 * pod lists it: in scheduler mode from its pod watch within seconds, in a `--rotate-now` run from the pods
 * its pod pass reads. On the real API server (the pods stay Pending: no node runs these namespaces).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, TARGET_LABEL } from '../../src/kube/labels.ts';
import { spawnCli, useCreds, Workspace } from '../helpers/rotator.ts';
import {
  api,
  deleteNamespaces,
  managedSecrets,
  pullSecretsOf,
  stack,
  suffix,
  waitFor,
} from '../helpers/stack.ts';

const sfx = suffix();
const created: string[] = [];
afterAll(() => deleteNamespaces(created));

async function namespace(name: string, labels: Record<string, string>): Promise<void> {
  created.push(name);
  await api().createNamespace({ body: { metadata: { name, labels } } });
  await waitFor(`the default ServiceAccount in ${name}`, () =>
    api().readNamespacedServiceAccount({ namespace: name, name: 'default' }),
  );
}

/** A pod listing exactly `pullSecrets` (so the ServiceAccount plugin adds nothing), under `default`. */
async function podNaming(ns: string, name: string, pullSecrets: string[]): Promise<void> {
  await api().createNamespacedPod({
    namespace: ns,
    body: {
      metadata: { name },
      spec: {
        imagePullSecrets: pullSecrets.map((n) => ({ name: n })),
        containers: [{ name: 'c', image: `${stack.registryBasic}/app:1` }],
      },
    },
  });
}

const data = async (ns: string, name: string) =>
  (await api().readNamespacedSecret({ namespace: ns, name })).data?.['.dockerconfigjson'];

function workspace(selector: string, extra: Record<string, unknown> = {}): Workspace {
  const w = new Workspace();
  useCreds(w, 1);
  w.writeConfig({
    stores: { local: { type: 'file', path: w.creds } },
    targets: [
      {
        name: `rv${sfx}`,
        store: 'local',
        registry: stack.registryBasic,
        credentials: { username: { key: 'user' }, password: { key: 'pass' } },
        secretName: `rc-${sfx}`,
        namespaces: { selector },
      },
    ],
    schedule: '0 3 1 1 *',
    metrics: { port: 0 },
    lock: { namespace: 'default', name: `rv-${sfx}-${selector.replace(/\W/g, '')}` },
    rotation: { retainSuperseded: '0', ...extra },
  });
  return w;
}

describe('an earlier name of ours a pod lists, missing', () => {
  it('scheduler mode: created again within seconds of the pod, with the current data; deleted by the pass after the pod is gone', async () => {
    const ns = `rv-s-${sfx}`;
    await namespace(ns, { rvs: sfx });
    // healPods starts the pod watch; so does either admission part (which is what races a rotation).
    const w = workspace(`rvs=${sfx}`, { healPods: true });
    const s = spawnCli(['scheduler', '--config', w.config, '--log-format', 'json'], /"msg":"run summary"/);
    try {
      await s.seen;
      const [first] = await pullSecretsOf(ns);
      expect(first).toMatch(new RegExp(`^rc-${sfx}-[0-9a-f]{10}$`));
      useCreds(w, 2);
      const passes = () => (s.stderr().match(/"msg":"run summary"/g) ?? []).length;
      s.child.kill('SIGHUP');
      await waitFor('the second pass', async () => (passes() >= 2 ? true : undefined));
      const [second] = await pullSecretsOf(ns);
      expect(second).not.toBe(first);
      expect(await managedSecrets(ns)).toEqual([second]);

      const t0 = performance.now();
      await podNaming(ns, 'late', [first!]);
      await waitFor(`${first} created again`, async () =>
        (await managedSecrets(ns)).includes(first!) ? true : undefined,
      );
      const seconds = (performance.now() - t0) / 1000;
      console.log(`[revive] scheduler: ${first} created again ${seconds.toFixed(2)} s after the pod`);
      expect(await data(ns, first!)).toBe(await data(ns, second!));
      // Still named by a live pod: the next pass keeps it.
      s.child.kill('SIGHUP');
      await waitFor('the third pass', async () => (passes() >= 3 ? true : undefined));
      expect(await managedSecrets(ns)).toEqual([first, second].sort());
      await api().deleteNamespacedPod({ namespace: ns, name: 'late', gracePeriodSeconds: 0 });
      s.child.kill('SIGHUP');
      await waitFor('the fourth pass', async () => (passes() >= 4 ? true : undefined));
      expect(await managedSecrets(ns)).toEqual([second]);
      // Each pass came right after a reaction of the same process, which holds the run lock for 2 s after
      // its last write: the pass takes it over instead of finding it held and skipping its run.
      expect(s.stderr()).not.toMatch(/skipping this run/);
    } finally {
      s.child.kill('SIGTERM');
      await s.closed;
    }
  });

  it('--rotate-now: created again when the run reads the pods (its pod pass, for a superseded secret waiting on them)', async () => {
    const ns = `rv-b-${sfx}`;
    await namespace(ns, { rvb: sfx });
    const w = workspace(`rvb=${sfx}`);
    expect((await w.rotate()).code).toBe(0);
    const [first] = await pullSecretsOf(ns);
    useCreds(w, 2);
    expect((await w.rotate()).code).toBe(0);
    const [second] = await pullSecretsOf(ns);
    await podNaming(ns, 'late', [first!]);
    // A run reads a namespace's pods only when a superseded secret of ours waits on them: one is there.
    const superseded = `rc-${sfx}-00000000ff`;
    await api().createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: {
          name: superseded,
          labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [TARGET_LABEL]: `rv${sfx}` },
        },
        type: 'kubernetes.io/dockerconfigjson',
        data: { '.dockerconfigjson': Buffer.from('{"auths":{}}').toString('base64') },
      },
    });
    const r = await w.rotate();
    expect(r.code).toBe(0);
    expect(await managedSecrets(ns)).toEqual([first, second].sort());
    expect(await data(ns, first!)).toBe(await data(ns, second!));
    expect(r.stderr).toMatch(/"msg":"namespace converged"/);
  });
});
