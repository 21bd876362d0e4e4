/**
 * `prune` on the real API server: a target removed from the config leaves Secrets behind; prune deletes
 * exactly those nothing references, keeps the others with the reason (a ServiceAccount, a live pod),
 * removes a ServiceAccount entry only once its Secret is gone, and never touches anything unlabelled.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli, useCreds, Workspace } from '../helpers/rotator.ts';
import {
  api,
  createNamespace,
  createPod,
  deleteNamespaces,
  kubectl,
  managedSecrets,
  pullSecretsOf,
  setServiceAccountPulls,
  snapshotNamespaces,
  stack,
  suffix,
} from '../helpers/stack.ts';

const sfx = suffix();
const [a, b] = [`pr-${sfx}-a`, `pr-${sfx}-b`];
const w = new Workspace();
const target = (name: string, names: string[]) => ({
  name,
  store: 'local',
  registry: stack.registryBasic,
  credentials: { username: { key: 'user' }, password: { key: 'pass' } },
  secretName: `rc-${name}`,
  namespaces: { names },
});
const config = (targets: unknown[]) =>
  w.writeConfig({
    stores: { local: { type: 'file', path: w.creds } },
    targets,
    rotation: { retainSuperseded: '24h' },
    lock: { namespace: 'default', name: `pr-${sfx}` },
  });
const prune = (...args: string[]) => runCli(['--config', w.config, '--log-format', 'json', 'prune', ...args]);
const of = (names: string[], base: string) => names.filter((n) => n.startsWith(`${base}-`));

beforeAll(async () => {
  await createNamespace(a);
  await createNamespace(b);
});
afterAll(() => deleteNamespaces([a, b]));

it('removes what a removed target left and nothing references; keeps the rest with the reason; never touches the unlabelled', async () => {
  config([target(`keep${sfx}`, [a, b]), target(`gone${sfx}`, [a, b])]);
  useCreds(w, 1);
  expect((await w.rotate()).code).toBe(0);
  const gone1 = of(await managedSecrets(a), `rc-gone${sfx}`)[0]!;
  await createPod(a, 'still-running'); // holds [keep-1, gone-1]
  useCreds(w, 2);
  expect((await w.rotate()).code).toBe(0);
  const gone2 = of(await pullSecretsOf(a), `rc-gone${sfx}`)[0]!;
  // Unlabelled look-alikes must survive any prune: a Secret and an entry naming it.
  await api().createNamespacedSecret({
    namespace: b,
    body: { metadata: { name: `rc-gone${sfx}-0123456789` }, type: 'Opaque', data: {} },
  });
  await setServiceAccountPulls(b, [...(await pullSecretsOf(b)), `rc-gone${sfx}-0123456789`]);

  config([target(`keep${sfx}`, [a, b])]); // the target `gone` is removed
  const before = await snapshotNamespaces([a, b]);
  const dry = await prune('--dry-run', '-o', 'json');
  expect(dry.code, dry.stderr).toBe(0);
  const rows = (
    JSON.parse(dry.stdout) as { rows: { action: string; namespace: string; object: string; why: string }[] }
  ).rows;
  const row = (ns: string, name: string) =>
    rows.find((r) => r.namespace === ns && r.object === `secret/${name}`);
  expect(row(b, gone1)).toMatchObject({ action: 'delete' });
  expect(row(a, gone1)).toMatchObject({
    action: 'keep',
    why: '1 live pod still references it (still-running)',
  });
  expect(row(a, gone2)).toMatchObject({ action: 'keep', why: 'referenced by serviceaccount default' });
  expect(row(b, gone2)).toMatchObject({ action: 'keep', why: 'referenced by serviceaccount default' });
  expect(rows.filter((r) => r.action !== 'keep')).toHaveLength(1);
  expect(await snapshotNamespaces([a, b])).toBe(before);

  const real = await prune();
  expect(real.code, real.stderr).toBe(0);
  expect(real.stdout).toMatch(new RegExp(`delete\\s+${b}\\s+secret/${gone1}`));
  expect(of(await managedSecrets(b), `rc-gone${sfx}`)).toEqual([gone2]);
  expect(of(await managedSecrets(a), `rc-gone${sfx}`).sort()).toEqual([gone1, gone2].sort());

  // Someone deletes the removed target's current Secret: prune then removes the dangling entry only.
  await api().deleteNamespacedSecret({ namespace: a, name: gone2 });
  const keepEntry = (await pullSecretsOf(a)).filter((p) => p !== gone2);
  expect((await prune()).code).toBe(0);
  expect(await pullSecretsOf(a)).toEqual(keepEntry);
  expect(await pullSecretsOf(b)).toContain(`rc-gone${sfx}-0123456789`);
  expect((await api().readNamespacedSecret({ namespace: b, name: `rc-gone${sfx}-0123456789` })).type).toBe(
    'Opaque',
  );
});

it("a Lease shared by two installs: each prunes only the targets its own config had; the other install's, and targets from before the Lease told configs apart, need --target", async () => {
  const [x, y] = [`pr-${sfx}-x`, `pr-${sfx}-y`];
  await createNamespace(x);
  await createNamespace(y);
  try {
    // Two installs (two configs, two sets of credentials files) managing different namespaces with one Lease.
    const one = new Workspace();
    const two = new Workspace();
    const shared = { namespace: 'default', name: `pr-shared-${sfx}` };
    const write = (ws: Workspace, targets: unknown[]) =>
      ws.writeConfig({ stores: { local: { type: 'file', path: ws.creds } }, targets, lock: shared });
    const t = (ws: Workspace, name: string, ns: string) => ({
      ...target(name, [ns]),
      store: 'local',
      secretName: `rc-${name}`,
    });
    useCreds(one, 1);
    useCreds(two, 1);
    write(one, [t(one, `one${sfx}`, x), t(one, `old${sfx}`, x)]);
    write(two, [t(two, `two${sfx}`, y)]);
    expect((await runCli(['--config', one.config, '--rotate-now'])).code).toBe(0);
    expect((await runCli(['--config', two.config, '--rotate-now'])).code).toBe(0);

    // Install one drops a target. Its prune takes that one only; install two's target is left, and said so.
    write(one, [t(one, `one${sfx}`, x)]);
    const p1 = await runCli(['--config', one.config, 'prune', '--dry-run', '-o', 'json']);
    expect(p1.code, p1.stderr).toBe(0);
    expect(JSON.parse(p1.stdout)).toMatchObject({
      removedTargets: [`old${sfx}`],
      otherTargets: [`two${sfx}`],
    });
    // Install two's prune sees install one's targets as another config's: nothing of theirs is touched.
    const before = await snapshotNamespaces([x, y]);
    const p2 = await runCli(['--config', two.config, 'prune']);
    expect(p2.code, p2.stderr).toBe(0);
    expect(p2.stdout).toContain(
      `nothing to prune: every target this config managed (lease default/${shared.name}) is in the config`,
    );
    expect(p2.stdout).toMatch(
      new RegExp(`not pruned: (one${sfx}, old${sfx}|old${sfx}, one${sfx}) — recorded on the lease`),
    );
    expect(await snapshotNamespaces([x, y])).toBe(before);

    // A target recorded before the Lease told configs apart (only in the union annotation) is not pruned
    // unless named.
    kubectl(
      'annotate',
      'lease',
      '-n',
      'default',
      shared.name,
      '--overwrite',
      `regcred-rotator.io/targets=one${sfx},old${sfx},two${sfx},legacy${sfx}`,
    );
    const p3 = await runCli(['--config', one.config, 'prune', '--dry-run', '-o', 'json']);
    expect(JSON.parse(p3.stdout)).toMatchObject({ removedTargets: [`old${sfx}`] });
    expect((JSON.parse(p3.stdout) as { otherTargets: string[] }).otherTargets.sort()).toEqual(
      [`legacy${sfx}`, `two${sfx}`].sort(),
    );
    const p4 = await runCli([
      '--config',
      one.config,
      'prune',
      '--dry-run',
      '-o',
      'json',
      '--target',
      `legacy${sfx}`,
    ]);
    expect(JSON.parse(p4.stdout)).toMatchObject({ removedTargets: [`old${sfx}`, `legacy${sfx}`] });
  } finally {
    await deleteNamespaces([x, y]);
  }
});
