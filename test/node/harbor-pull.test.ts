/**
 * The real kubelet (containerd) pulls the private image through the Harbor double with a robot minted by
 * the Harbor issuer: Running with robot A's pull secret; once the issuer revokes (disables) A, a new pod
 * that must pull again (`imagePullPolicy: Always`) fails to pull, and a pod without a secret never could.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/base/logger.ts';
import { HarborRobotIssuer } from '../../src/issuers/harbor/index.ts';
import { harborRobotIssuerSchema } from '../../src/issuers/harbor/schema.ts';
import { harbor } from '../helpers/harbor.ts';
import { nodeNamespace, pullOutcome, pullSecret, runPod } from '../helpers/node.ts';
import { api, suffix, waitFor } from '../helpers/stack.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const sfx = suffix();
const ns = `harbor-pull-${sfx}`;
const dir = mkdtempSync(join(tmpdir(), 'harbor-pull-'));

afterAll(async () => {
  await api()
    .deleteNamespace({ name: ns })
    .catch(() => undefined);
});

describe('the kubelet pulls through the Harbor double with an issued robot', () => {
  it('Running with robot A; after A is revoked a fresh pull fails; without a secret it never pulls', async () => {
    writeFileSync(join(dir, 'pw'), harbor.adminPassword, { mode: 0o600 });
    const issuer = new HarborRobotIssuer(
      harborRobotIssuerSchema.parse({
        type: 'harbor-robot',
        url: harbor.url,
        project: harbor.project,
        robot: `node-${sfx}`,
        login: { username: harbor.adminUser, password: { file: join(dir, 'pw') } },
        caFile: harbor.ca,
      }),
      { logger: silentLogger(), baseDir: dir },
    );
    const a = await issuer.issue(undefined);
    await nodeNamespace(ns);
    await pullSecret(ns, 'robot-a', {
      [harbor.host]: { username: a.username, password: a.password.reveal() },
    });
    await runPod(ns, 'with-a', { images: [harbor.image], pullSecrets: ['robot-a'], pullPolicy: 'Always' });
    await runPod(ns, 'no-secret', { images: [harbor.image], pullPolicy: 'Always' });
    expect(await pullOutcome(ns, 'with-a', 120_000)).toEqual({ state: 'started' });
    await waitFor('pod with-a Running', async () =>
      (await api().readNamespacedPod({ namespace: ns, name: 'with-a' })).status?.phase === 'Running'
        ? true
        : undefined,
    );
    const anon = await pullOutcome(ns, 'no-secret', 120_000);
    expect(anon.state).toBe('failed');

    await issuer.revoke(a.ref);
    await runPod(ns, 'after-revoke', {
      images: [harbor.image],
      pullSecrets: ['robot-a'],
      pullPolicy: 'Always',
    });
    const after = await pullOutcome(ns, 'after-revoke', 120_000);
    expect(after.state).toBe('failed');
    expect(after.state === 'failed' ? after.message : '').toMatch(/401|nauthorized/);
    await issuer.close();
  });
});
