/**
 * The run Lease's namespace without `lock:` in the config: POD_NAMESPACE, which every manifest in deploy/
 * and the chart set from the downward API (metadata.namespace), so the Lease lives beside the rotator.
 */
import { CoordinationV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fileConfig, useCreds, Workspace } from '../helpers/rotator.ts';
import { createNamespace, deleteNamespaces, kubeConfig, suffix } from '../helpers/stack.ts';

const sfx = suffix();
const home = `ln-${sfx}`;
const apps = `ln-${sfx}-apps`;

beforeAll(async () => {
  await createNamespace(home);
  await createNamespace(apps);
});
afterAll(() => deleteNamespaces([home, apps]));

it('takes the run Lease in POD_NAMESPACE when the config has no lock.namespace', async () => {
  const w = new Workspace();
  useCreds(w, 1);
  fileConfig(w, { name: 'ln', secretName: `ln-${sfx}`, namespaces: { names: [apps] } });
  const r = await w.rotate([], { POD_NAMESPACE: home });
  expect(r.code, r.text).toBe(0);
  const lease = await kubeConfig()
    .makeApiClient(CoordinationV1Api)
    .readNamespacedLease({ namespace: home, name: 'regcred-rotator' });
  expect(lease.metadata?.annotations?.['regcred-rotator.io/targets']).toBe('ln');
});
