/**
 * The kubelet pulls from the stack's real Gitea with a token the gitea-token issuer minted, and a token it
 * revoked stops working for new pulls: what a rotation that revokes at the source relies on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/base/logger.ts';
import { Sensitive } from '../../src/base/sensitive.ts';
import { GiteaTokenIssuer } from '../../src/issuers/gitea/index.ts';
import { giteaTokenIssuerSchema } from '../../src/issuers/gitea/schema.ts';
import { gitea } from '../helpers/gitea.ts';
import { nodeNamespace, podEvents, pullOutcome, pullSecret, runPod } from '../helpers/node.ts';
import { api, deleteNamespaces, suffix, waitFor } from '../helpers/stack.ts';

const sfx = suffix();
const ns = `gitea-${sfx}`;
let issuer: GiteaTokenIssuer;

beforeAll(async () => {
  await nodeNamespace(ns);
  const config = giteaTokenIssuerSchema.parse({
    type: 'gitea-token',
    url: gitea.url,
    user: gitea.puller,
    login: { username: gitea.puller, password: { key: 'unused' } },
  });
  issuer = new GiteaTokenIssuer(config, {
    target: `node${sfx}`,
    password: async () => new Sensitive(gitea.pullerPassword),
    logger: silentLogger(),
  });
});
afterAll(async () => {
  for (const c of await issuer.list()) await issuer.revoke(c);
  await issuer.close();
  await deleteNamespaces([ns]);
});

describe('pulling from Gitea with a minted token', () => {
  it('a pod pulls the private image; once the token is revoked, a new pod with that secret cannot', async () => {
    const c = await issuer.issue(undefined);
    await pullSecret(ns, 'gitea', {
      [gitea.registry]: { username: c.username, password: c.password.reveal() },
    });
    await runPod(ns, 'before', { images: [gitea.image], pullSecrets: ['gitea'], pullPolicy: 'Always' });
    expect(await pullOutcome(ns, 'before', 120_000)).toEqual({ state: 'started' });
    await waitFor('pod "before" Running', async () =>
      (await api().readNamespacedPod({ namespace: ns, name: 'before' })).status?.phase === 'Running'
        ? true
        : undefined,
    );

    await issuer.revoke(c.ref);
    await runPod(ns, 'after', { images: [gitea.image], pullSecrets: ['gitea'], pullPolicy: 'Always' });
    const out = await pullOutcome(ns, 'after', 120_000);
    expect(out.state).toBe('failed');
    const failed = (await podEvents(ns, 'after')).find((e) => e.reason === 'Failed');
    expect(failed?.message).toMatch(/401|unauthorized/i);
    // The pod that pulled before the revocation keeps running: revocation stops new pulls only.
    expect((await api().readNamespacedPod({ namespace: ns, name: 'before' })).status?.phase).toBe('Running');
  });
});
