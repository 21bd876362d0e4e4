/**
 * `doctor` against what a real kubelet reports: a pod failing to pull with credentials the registry
 * refuses, one whose only pull secret is missing, one with an unparsable secret next to a valid one (it
 * never reaches ErrImagePull, so a watch for pull errors does not see it). Each gets its cause and its fix.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { imageVariant, nodeNamespace, podEvents, pullOutcome, pullSecret, runPod } from '../helpers/node.ts';
import { runCli } from '../helpers/rotator.ts';
import { deleteNamespaces, stack, suffix, waitFor } from '../helpers/stack.ts';

const sfx = suffix();
const ns = `doc-${sfx}`;
beforeAll(() => nodeNamespace(ns));
afterAll(() => deleteNamespaces([ns]));

interface Finding {
  severity: string;
  object: string;
  problem: string;
  fix: string;
}

it('names the cause and the fix of each pull failure the kubelet reported', async () => {
  await pullSecret(ns, 'wrong-creds', {
    [stack.registryBasic]: { username: stack.user, password: 'wrong-password' },
  });
  await pullSecret(ns, 'valid', {
    [stack.registryBasic]: { username: stack.user, password: stack.password },
  });
  await pullSecret(ns, 'unparsable', '{"auths":"a string"}');
  await runPod(ns, 'refused', {
    images: [await imageVariant('basic', `doc-a-${sfx}`)],
    pullSecrets: ['wrong-creds'],
  });
  await runPod(ns, 'missing', {
    images: [await imageVariant('basic', `doc-b-${sfx}`)],
    pullSecrets: ['gone'],
  });
  await runPod(ns, 'keyring', {
    images: [await imageVariant('basic', `doc-c-${sfx}`)],
    pullSecrets: ['unparsable', 'valid'],
  });
  expect((await pullOutcome(ns, 'refused')).state).toBe('failed');
  expect((await pullOutcome(ns, 'missing')).state).toBe('failed');
  await waitFor('the kubelet events', async () => {
    const have = [
      ...(await podEvents(ns, 'missing')).map((e) => e.reason),
      ...(await podEvents(ns, 'keyring')).map((e) => e.reason),
    ];
    return have.includes('FailedToRetrieveImagePullSecret') && have.includes('Failed') ? true : undefined;
  });

  const r = await runCli(['doctor', '-n', ns, '-o', 'json', '--log-level', 'error']);
  expect(r.code, r.stderr).toBe(1);
  const findings = (JSON.parse(r.stdout) as { findings: Finding[] }).findings;
  const find = (object: string, problem: RegExp) =>
    findings.find((f) => f.object === object && problem.test(f.problem));

  const refused = find('pod/refused', /registry refused the credentials the pod presented \(401\)/);
  expect(refused?.fix).toMatch(/put working credentials in the store/);
  expect(find('secret/wrong-creds', /rejects its credentials for user/)).toBeDefined();

  expect(find('pod/missing', /references missing pull secret "gone"/)?.fix).toMatch(/recreate the pod/);
  expect(find('pod/missing', /pull secret the pod lists does not exist \(gone\)/)).toBeDefined();

  const keyring = find('pod/keyring', /does not parse, so the kubelet cannot build its keyring/);
  expect(keyring?.severity).toBe('error');
  expect(find('secret/unparsable', /does not parse as a \.dockerconfigjson/)?.fix).toMatch(/recreate it/);

  expect(r.stdout).not.toContain('wrong-password');
  const table = await runCli(['doctor', '-n', ns, '--log-level', 'error']);
  console.log(`[node] doctor on real kubelet events:\n${table.stdout}`);
});
