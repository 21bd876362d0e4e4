/**
 * The node pulls from the ACR double as from Azure: `regcredstack.azurecr.io/...` (containerd maps the
 * name to the stack address through certs.d), a pull secret holding a token slot the issuer generated,
 * containerd's own token flow (its POST refused as ACR refuses it, then GET with Basic), and a slot the
 * issuer revoked refused at the next pull.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { AcrTokenIssuer, acrTokenIssuerSchema } from '../../src/issuers/acr/index.ts';
import { acr, acrMark, acrRequestsAfter, makeToken, resetAcr, sdk } from '../helpers/acr.ts';
import { nodeNamespace, pullOutcome, pullSecret, runPod } from '../helpers/node.ts';
import { deleteNamespaces, env, suffix } from '../helpers/stack.ts';

const sfx = suffix();
const ns = `acr-pull-${sfx}`;
const image = () => env('REGCRED_STACK_ACR_IMAGE');
let token = '';
let issuer: AcrTokenIssuer | undefined;

afterAll(async () => {
  await issuer?.close();
  await deleteNamespaces([ns]);
  if (token)
    await sdk('CONTRIBUTOR')
      .tokens.delete(acr.resourceGroup, acr.registry, token)
      .catch(() => undefined);
});

describe('the kubelet pulls from <registry>.azurecr.io with a token slot', () => {
  it('pulls with the issued slot, through containerd’s token flow; a revoked slot is refused at the next pull', async () => {
    await resetAcr();
    const mark = await acrMark();
    token = await makeToken(`pull-${sfx}`);
    process.env['AZURE_TENANT_ID'] = acr.tenant;
    process.env['AZURE_CLIENT_ID'] = acr.id('ROTATOR');
    process.env['AZURE_CLIENT_SECRET'] = acr.secret('ROTATOR');
    issuer = new AcrTokenIssuer(
      acrTokenIssuerSchema.parse({
        type: 'acr-token',
        subscriptionId: acr.subscription,
        resourceGroup: acr.resourceGroup,
        registry: acr.registry,
        token,
        armEndpoint: acr.arm,
        armAudience: acr.audience,
        identity: { credential: 'environment' },
      }),
    );
    const a = await issuer.issue(undefined);
    const b = await issuer.issue(a.ref);
    await nodeNamespace(ns);
    for (const [name, c] of [
      ['slot-a', a],
      ['slot-b', b],
    ] as const)
      await pullSecret(ns, name, {
        [acr.loginServer]: { username: c.username, password: c.password.reveal() },
      });
    await pullSecret(ns, 'wrong', { [acr.loginServer]: { username: token, password: 'not-the-password' } });

    await runPod(ns, 'with-a', { images: [image()], pullSecrets: ['slot-a'], pullPolicy: 'Always' });
    expect(await pullOutcome(ns, 'with-a', 120_000)).toEqual({ state: 'started' });
    const flow = (await acrRequestsAfter(mark))
      .filter((l) => l.plane === 'registry')
      .map((l) => `${l.method} ${l.path.replace(/sha256:\w+/, 'sha256:…')} ${l.status}`);
    expect(flow).toEqual(
      expect.arrayContaining([
        'HEAD /v2/regcred/busybox/manifests/1 401',
        'POST /oauth2/token 400', // containerd's OAuth POST, refused as ACR refuses it
        'GET /oauth2/token 200', // its fallback: GET with Basic
        'HEAD /v2/regcred/busybox/manifests/1 200', // resolved with the token (its layers are on the node already)
      ]),
    );

    await runPod(ns, 'with-wrong', { images: [image()], pullSecrets: ['wrong'], pullPolicy: 'Always' });
    expect(await pullOutcome(ns, 'with-wrong', 120_000)).toMatchObject({ state: 'failed' });

    await issuer.revoke(a.ref);
    await runPod(ns, 'after-revoke', { images: [image()], pullSecrets: ['slot-a'], pullPolicy: 'Always' });
    expect(await pullOutcome(ns, 'after-revoke', 120_000)).toMatchObject({ state: 'failed' });
    await runPod(ns, 'with-b', { images: [image()], pullSecrets: ['slot-b'], pullPolicy: 'Always' });
    expect(await pullOutcome(ns, 'with-b', 120_000)).toEqual({ state: 'started' });
  });
});
