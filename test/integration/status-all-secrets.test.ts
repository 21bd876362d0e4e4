/**
 * `status --all-secrets` against the real API server: the cluster-wide list of dockerconfigjson Secrets
 * (a field selector on `type`, paged), the unmanaged ones older than `policy.maxAgeDays` by their creation
 * time reported with the registries they hold, the rotator's own and other types never, and no secret
 * value in the output. The API server sets creationTimestamp itself, so "older" is made by running the CLI
 * with its clock ahead (test/helpers/clock-ahead.ts).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { clockAhead, fileConfig, runCli, useCreds, Workspace } from '../helpers/rotator.ts';
import { api, createNamespace, deleteNamespaces, managedSecrets, stack, suffix } from '../helpers/stack.ts';

const sfx = suffix();
const ns = `as-${sfx}`;
const w = new Workspace();
const LEGACY_PASSWORD = `legacy-pw-${sfx}`;
const MAX_AGE = 30;

interface Stale {
  namespace: string;
  name: string;
  ageDays: number;
  registries: string[];
}

beforeAll(async () => {
  await createNamespace(ns);
  useCreds(w, 1);
  fileConfig(
    w,
    { name: 'as', secretName: `as-${sfx}`, namespaces: { names: [ns] } },
    { lock: { namespace: ns }, policy: { maxAgeDays: MAX_AGE, warnAgeDays: MAX_AGE - 10 } },
  );
  expect((await w.rotate()).code).toBe(0); // the rotator's own Secret: never reported
  const auth = Buffer.from(`legacy:${LEGACY_PASSWORD}`).toString('base64');
  const docker = (registry: string) =>
    Buffer.from(JSON.stringify({ auths: { [registry]: { auth } } })).toString('base64');
  await api().createNamespacedSecret({
    namespace: ns,
    body: {
      metadata: { name: 'legacy' },
      type: 'kubernetes.io/dockerconfigjson',
      data: { '.dockerconfigjson': docker('legacy.example.com') },
    },
  });
  await api().createNamespacedSecret({
    namespace: ns,
    body: {
      metadata: { name: 'opaque' },
      type: 'Opaque',
      data: { '.dockerconfigjson': docker('x.example.com') },
    },
  });
});
afterAll(() => deleteNamespaces([ns]));

const ours = (stale: Stale[]) => stale.filter((s) => s.namespace === ns);

it('reports an unmanaged pull secret once it is older than maxAgeDays, with its registries; never ours, never another type', async () => {
  expect(await managedSecrets(ns)).toHaveLength(1);
  const ahead = await runCli(['--config', w.config, 'status', '--all-secrets', '-o', 'json'], {
    env: clockAhead(MAX_AGE + 2),
  });
  // Everything is past the maximum age with the clock that far ahead, the rotator's credential too: exit 3.
  expect(ahead.code, ahead.stderr).toBe(3);
  const doc = JSON.parse(ahead.stdout) as { unmanagedOlderThanMaxAge: Stale[] };
  expect(ours(doc.unmanagedOlderThanMaxAge)).toEqual([
    { namespace: ns, name: 'legacy', ageDays: MAX_AGE + 2, registries: ['legacy.example.com'] },
  ]);
  for (const out of [ahead.stdout, ahead.stderr]) expect(out).not.toContain(LEGACY_PASSWORD);
  expect(ahead.stdout).not.toContain(stack.password);
});

it('the boundary: two days short of maxAgeDays it is not reported; the table lists it once it is', async () => {
  const short = await runCli(['--config', w.config, 'status', '--all-secrets', '-o', 'json'], {
    env: clockAhead(MAX_AGE - 2),
  });
  expect([0, 3], short.stderr).toContain(short.code); // 3 if some other Secret of the cluster is that old
  expect(
    ours((JSON.parse(short.stdout) as { unmanagedOlderThanMaxAge: Stale[] }).unmanagedOlderThanMaxAge),
  ).toEqual([]);
  const table = await runCli(['--config', w.config, 'status', '--all-secrets'], {
    env: clockAhead(MAX_AGE + 2),
  });
  expect(table.code, table.stderr).toBe(3);
  expect(table.stdout).toContain(
    `UNMANAGED PULL SECRETS OLDER THAN ${MAX_AGE} DAYS (reported, never touched)`,
  );
  expect(table.stdout).toMatch(new RegExp(`\\n${ns} +legacy +${MAX_AGE + 2}d +legacy\\.example\\.com *\\n`));
  expect(table.stdout).not.toContain(LEGACY_PASSWORD);
});
