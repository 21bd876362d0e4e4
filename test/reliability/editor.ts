/**
 * Another writer for the concurrent-editors test, as a separate process: it adds and removes its own
 * pull-secret entries on the `default` ServiceAccounts of the given namespaces (read → modify → replace
 * with resourceVersion, retried on 409) until SIGTERM, then prints the entries it believes each has.
 * While it runs it prints `edits N` after every edit, so the test can tell how far it got.
 * Usage: node editor.ts <kubeconfig> <ns>...
 */
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';

const [kubeconfig = '', ...namespaces] = process.argv.slice(2);
const kc = new KubeConfig();
kc.loadFromFile(kubeconfig);
const api = kc.makeApiClient(CoreV1Api);
const mine = new Map<string, string[]>(namespaces.map((n) => [n, []]));
const run = { stop: false };
let edits = 0;
let conflicts = 0;
process.on('SIGTERM', () => (run.stop = true));

for (let i = 0; !run.stop; i++) {
  const ns = namespaces[i % namespaces.length] ?? '';
  const own = mine.get(ns) ?? [];
  const remove = own.length > 0 && i % 3 === 2;
  const entry = remove ? own[Math.floor(own.length / 2)] : `editor-${i}`;
  for (;;) {
    const sa = await api.readNamespacedServiceAccount({ namespace: ns, name: 'default' });
    const pulls = (sa.imagePullSecrets ?? []).map((r) => r.name ?? '');
    const next = remove ? pulls.filter((p) => p !== entry) : [...pulls, entry];
    try {
      await api.replaceNamespacedServiceAccount({
        namespace: ns,
        name: 'default',
        body: { ...sa, imagePullSecrets: next.map((name) => ({ name })) },
      });
      break;
    } catch (e) {
      if ((e as { code?: number }).code !== 409) throw e;
      conflicts++;
    }
  }
  mine.set(ns, remove ? own.filter((x) => x !== entry) : [...own, entry ?? '']);
  edits++;
  process.stdout.write(`edits ${edits}\n`);
}
process.stdout.write(`${JSON.stringify({ edits, conflicts, entries: Object.fromEntries(mine) })}\n`);
