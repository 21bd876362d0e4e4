/**
 * The ACR token issuer (src/issuers/acr) against the stack's ACR double, signed in as the Entra double's
 * apps through the product's own identity options (`credential: environment`). What it proves: slots
 * alternate and the one in use keeps working at the registry; revoke removes exactly the old slot;
 * replication lag shows at the registry; refusals name the object, the identity and the missing action;
 * throttling is waited out; a generateCredentials whose answer is lost is never resent; no secret leaks.
 */
import { inspect } from 'node:util';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Sensitive } from '../../src/base/sensitive.ts';
import { verifyRegistry } from '../../src/credentials/verify.ts';
import { RotatorError } from '../../src/errors.ts';
import { AcrTokenIssuer, acrTokenIssuerSchema, SLOT_EXPIRY_GRACE_DAYS } from '../../src/issuers/acr/index.ts';
import type { IssuedCredential } from '../../src/issuers/types.ts';
import {
  acr,
  acrAdmin,
  acrMark,
  acrRequestsAfter,
  basic,
  makeToken,
  registry,
  replicationDelay,
  resetAcr,
  sdk,
  type AcrApp,
} from '../helpers/acr.ts';
import { freePort, sleep, suffix } from '../helpers/stack.ts';

const sfx = suffix();
const made: string[] = [];
const open: AcrTokenIssuer[] = [];
const secrets: string[] = [];
const ENV = ['AZURE_TENANT_ID', 'AZURE_CLIENT_ID', 'AZURE_CLIENT_SECRET'] as const;
const saved = ENV.map((k) => process.env[k]);

/** An issuer acting as `app`: the product's `environment` credential reads these variables when first used. */
function issuerFor(
  token: string,
  app: AcrApp = 'ROTATOR',
  extra: Record<string, unknown> = {},
): AcrTokenIssuer {
  process.env['AZURE_TENANT_ID'] = acr.tenant;
  process.env['AZURE_CLIENT_ID'] = acr.id(app);
  process.env['AZURE_CLIENT_SECRET'] = acr.secret(app);
  const config = acrTokenIssuerSchema.parse({
    type: 'acr-token',
    subscriptionId: acr.subscription,
    resourceGroup: acr.resourceGroup,
    registry: acr.registry,
    token,
    armEndpoint: acr.arm,
    armAudience: acr.audience,
    identity: { credential: 'environment' },
    ...extra,
  });
  const i = new AcrTokenIssuer(config, { maxAgeDays: 30 });
  open.push(i);
  return i;
}

async function fresh(what: string): Promise<string> {
  made.push(await makeToken(`iss-${sfx}-${what}`));
  return made.at(-1)!;
}

async function issue(i: AcrTokenIssuer, inUse?: IssuedCredential): Promise<IssuedCredential> {
  const c = await i.issue(inUse?.ref);
  secrets.push(c.password.reveal());
  return c;
}

/** What the registry says to these credentials, through the product's own login check. */
async function verdict(c: IssuedCredential): Promise<string> {
  const r = await verifyRegistry(
    { registry: acr.loginServer, username: c.username, password: c.password },
    { insecure: [], timeoutMs: 5000 },
  );
  return r.outcome;
}

async function failure(p: Promise<unknown>): Promise<RotatorError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(RotatorError);
  const r = e as RotatorError;
  const shown = `${r.message} ${JSON.stringify(r.details)} ${inspect(r)}`;
  for (const s of secrets) expect(shown).not.toContain(s);
  return r;
}

/**
 * This test's ARM requests: those answered since it began that name its token (the node lane's suites use
 * the double at the same time). `anyToken`: every ARM request since it began, for requests that name no
 * token (long-running operations' status polls), read with arrayContaining only.
 */
let mark = 0;
const armLog = async (anyToken = false) =>
  (await acrRequestsAfter(mark)).filter(
    (l) => l.plane === 'arm' && (anyToken || l.token === made.at(-1)?.toLowerCase()),
  );
const count = async (operation: string) => (await armLog()).filter((l) => l.operation === operation).length;

beforeEach(async () => {
  await resetAcr();
  mark = await acrMark();
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((i) => i.close()));
});
afterAll(async () => {
  await resetAcr();
  for (const [n, k] of ENV.entries()) {
    if (saved[n] === undefined) Reflect.deleteProperty(process.env, k);
    else process.env[k] = saved[n];
  }
  for (const t of made)
    await sdk('CONTRIBUTOR')
      .tokens.delete(acr.resourceGroup, acr.registry, t)
      .catch(() => undefined);
});

describe('AcrTokenIssuer (dual-slot) against the ACR double', () => {
  it('issuing twice alternates the slots, with an expiry; the slot in use keeps working at the registry', async () => {
    const token = await fresh('alt');
    const i = issuerFor(token);
    expect([i.type, i.class]).toEqual(['acr-token', 'dual-slot']);
    const a = await issue(i);
    expect(a.ref.id).toBe('password1'); // an empty token: the missing slot, password1 first
    expect(a.username).toBe(token);
    expect(a.password).toBeInstanceOf(Sensitive);
    const days = (a.ref.expiresAt!.getTime() - a.ref.issuedAt.getTime()) / 86_400_000;
    expect(Math.round(days)).toBe(30 + SLOT_EXPIRY_GRACE_DAYS); // policy-aware default
    expect(await verdict(a)).toBe('accepted');

    const b = await issue(i, a);
    expect(b.ref.id).toBe('password2');
    expect([await verdict(a), await verdict(b)]).toEqual(['accepted', 'accepted']);

    const c = await issue(i, b);
    expect(c.ref.id).toBe('password1');
    expect([await verdict(b), await verdict(c), await verdict(a)]).toEqual([
      'accepted',
      'accepted',
      'rejected',
    ]);

    const listed = await i.list();
    expect(listed.map((s) => [s.id, s.state, s.issuedAt.getTime(), s.expiresAt?.getTime()])).toEqual([
      ['password1', 'active', c.ref.issuedAt.getTime(), c.ref.expiresAt?.getTime()],
      ['password2', 'active', b.ref.issuedAt.getTime(), b.ref.expiresAt?.getTime()],
    ]);
    expect(listed[0]!.label).toBe(`token ${token}, slot password1`);
  });

  it('first issue on a token with both slots: the older one (ARO-RP’s rule)', async () => {
    const token = await fresh('aro');
    const tokenId = `${acr.registryId}/tokens/${token}`;
    await sdk('CONTRIBUTOR').registries.generateCredentials(acr.resourceGroup, acr.registry, { tokenId });
    await sdk('CONTRIBUTOR').registries.generateCredentials(acr.resourceGroup, acr.registry, {
      tokenId,
      name: 'password1',
    });
    expect((await issue(issuerFor(token))).ref.id).toBe('password2');
  });

  it('revoke removes the old slot (refused at the registry), is a no-op once done, and leaves a slot regenerated since alone', async () => {
    const token = await fresh('rev');
    const i = issuerFor(token);
    const a = await issue(i);
    const b = await issue(i, a);
    await i.revoke(a.ref);
    expect((await i.list()).map((s) => s.id)).toEqual(['password2']);
    expect([await verdict(a), await verdict(b)]).toEqual(['rejected', 'accepted']);
    expect((await registry('/v2/', basic(a.username, a.password.reveal()))).headers['www-authenticate']).toBe(
      'Basic realm="Azure Container Registry"',
    );

    const patches = await count('updateToken');
    await i.revoke(a.ref);
    expect(await count('updateToken')).toBe(patches);

    const c = await issue(i, b); // password1 again: a newer credential in a's slot
    await i.revoke(a.ref);
    expect(await count('updateToken')).toBe(patches);
    expect([await verdict(b), await verdict(c)]).toEqual(['accepted', 'accepted']);
  });

  it('long-running answers: generateCredentials via 202 + Location, revoke via 201 + Azure-AsyncOperation', async () => {
    const token = await fresh('lro');
    await acrAdmin('POST', 'settings', {
      generateCredentials: 'location',
      tokenWrites: 'async',
      polls: 2,
      retryAfterSeconds: 0,
    });
    const i = issuerFor(token);
    const a = await issue(i);
    const b = await issue(i, a);
    await i.revoke(a.ref);
    expect((await i.list()).map((s) => s.id)).toEqual(['password2']);
    expect(await verdict(b)).toBe('accepted');
    const ops = (await armLog(true)).map((l) => `${l.operation} ${l.status}`);
    expect(ops).toEqual(
      expect.arrayContaining([
        'generateCredentials 202',
        'registryOperationStatus 202',
        'updateToken 201',
        'tokenOperationStatus 200',
      ]),
    );
  });

  it('replication lag: the new slot is refused at first while the slot in use keeps working', async () => {
    const token = await fresh('repl');
    const i = issuerFor(token);
    const a = await issue(i);
    const b = await issue(i, a);
    await replicationDelay(token, 3000);
    const c = await issue(i, b); // overwrites password1: 60 s on Azure (fact 32), 3 s here
    const at = Date.now();
    expect(await verdict(c)).toBe('rejected');
    expect(await verdict(b)).toBe('accepted');
    while ((await verdict(c)) !== 'accepted') {
      expect(Date.now() - at).toBeLessThan(8000);
      await sleep(250);
    }
    expect(Date.now() - at).toBeGreaterThanOrEqual(2500);
  });

  it('the role-less identity: ISSUER_PERMISSION naming tokens/read, the client id, registry and token; nothing issued', async () => {
    const token = await fresh('perm');
    const e = await failure(issuerFor(token, 'NOROLE').issue(undefined));
    expect(e.code).toBe('ISSUER_PERMISSION');
    expect(e.retryable).toBe(false);
    expect(e.message).toContain("'Microsoft.ContainerRegistry/registries/tokens/read'");
    expect(e.message).toContain(acr.id('NOROLE'));
    expect(e.message).toContain(`registry ${acr.registry}, token ${token}`);
    expect(e.details).toMatchObject({ action: 'Microsoft.ContainerRegistry/registries/tokens/read' });
    expect(await count('generateCredentials')).toBe(0);
  });

  it('an identity that may read but not regenerate: ISSUER_PERMISSION naming generateCredentials/action', async () => {
    const token = await fresh('read');
    const grant = {
      principalId: acr.objectId('NOROLE'),
      scope: acr.registryId,
      role: 'Container Registry Configuration Reader and Data Access Configuration Reader',
    };
    const i = issuerFor(token, 'NOROLE');
    await acrAdmin('POST', 'roles', grant);
    try {
      expect(await i.list()).toEqual([]);
      const e = await failure(i.issue(undefined));
      expect(e.code).toBe('ISSUER_PERMISSION');
      expect(e.message).toContain("'Microsoft.ContainerRegistry/registries/generateCredentials/action'");
      expect(e.message).toContain(acr.id('NOROLE'));
      expect((await i.list()).length).toBe(0);
    } finally {
      await acrAdmin('DELETE', 'roles', grant);
    }
  });

  it('a wrong client secret: ISSUER_AUTH with Entra’s reason, the secret nowhere', async () => {
    const i = issuerFor(acr.token);
    const wrong = `wrong-${sfx}-Secret+/value`;
    secrets.push(wrong);
    process.env['AZURE_CLIENT_SECRET'] = wrong;
    const e = await failure(i.list());
    expect([e.code, e.retryable]).toEqual(['ISSUER_AUTH', false]);
    expect(e.message).toContain('AADSTS7000215');
    expect(e.message).toContain(acr.id('ROTATOR'));
  });

  it('a token for the wrong audience: ISSUER_AUTH pointing at armAudience', async () => {
    const e = await failure(
      issuerFor(acr.token, 'ROTATOR', { armAudience: 'https://vault.azure.net' }).list(),
    );
    expect(e.code).toBe('ISSUER_AUTH');
    expect(e.message).toContain('InvalidAuthenticationTokenAudience');
    expect(e.message).toContain('set armAudience');
  });

  it('ARM not answering: ISSUER_UNREACHABLE, retryable', async () => {
    const e = await failure(
      issuerFor(acr.token, 'ROTATOR', { armEndpoint: `https://127.0.0.1:${await freePort()}` }).list(),
    );
    expect([e.code, e.retryable]).toEqual(['ISSUER_UNREACHABLE', true]);
    expect(e.message).toContain('refused');
  });

  it('an unknown token: ISSUER_NOT_FOUND naming it', async () => {
    const e = await failure(issuerFor(`iss-${sfx}-absent`).issue(undefined));
    expect(e.code).toBe('ISSUER_NOT_FOUND');
    expect(e.message).toContain(`token iss-${sfx}-absent`);
    expect(e.message).toContain('ResourceNotFound');
  });

  it('429 is waited out (Retry-After), also for generateCredentials: throttled requests were never processed', async () => {
    const token = await fresh('429');
    const i = issuerFor(token);
    await acrAdmin('POST', 'faults', {
      throttle: { times: 2, retryAfterSeconds: 1, operation: 'generateCredentials', token },
    });
    const started = Date.now();
    const a = await issue(i);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
    expect(await verdict(a)).toBe('accepted');
    expect(
      (await armLog()).filter((l) => l.operation === 'generateCredentials').map((l) => l.status),
    ).toEqual([429, 429, 200]);

    await acrAdmin('POST', 'faults', { throttle: { times: 5, retryAfterSeconds: 3600, token } });
    const e = await failure(i.list());
    expect([e.code, e.retryable]).toEqual(['ISSUER_UNAVAILABLE', true]);
    expect(e.message).toContain('retry after 3600 s');
  });

  it('a generateCredentials whose answer is lost is not resent: the slot is burned, the one in use unchanged, the next issue takes the same slot', async () => {
    const token = await fresh('burn');
    const i = issuerFor(token);
    const a = await issue(i);
    await acrAdmin('POST', 'faults', {
      fail: { operation: 'generateCredentials', status: 500, times: 1, afterApplying: true, token },
    });
    const e = await failure(i.issue(a.ref));
    expect([e.code, e.retryable]).toEqual(['ISSUER_UNAVAILABLE', true]);
    expect(e.details).toMatchObject({ slot: 'password2', burned: true });
    expect(e.message).toContain('slot password2 is burned');
    expect((await armLog()).filter((l) => l.operation === 'generateCredentials').length).toBe(2); // a's, and one attempt
    expect((await i.list()).map((s) => s.id)).toEqual(['password1', 'password2']); // it did take effect
    expect(await verdict(a)).toBe('accepted');
    const b = await issue(i, a);
    expect(b.ref.id).toBe('password2');
    expect(await verdict(b)).toBe('accepted');
  });

  it('someone regenerating the same slot right after us: the re-read notices and the value is not handed out', async () => {
    const token = await fresh('race');
    const i = issuerFor(token);
    await acrAdmin('POST', 'faults', { race: { times: 1, token } });
    const e = await failure(i.issue(undefined));
    expect([e.code, e.retryable]).toEqual(['ISSUER_UNAVAILABLE', true]);
    expect(e.message).toContain('slot password1 changed right after it was generated');
  });

  it('a disabled token: every slot listed disabled; issuing refused until it is enabled again', async () => {
    const token = await fresh('off');
    const i = issuerFor(token);
    const a = await issue(i);
    await sdk('CONTRIBUTOR').tokens.update(acr.resourceGroup, acr.registry, token, { status: 'disabled' });
    expect((await i.list()).map((s) => [s.id, s.state])).toEqual([['password1', 'disabled']]);
    const e = await failure(i.issue(a.ref));
    expect([e.code, e.retryable]).toEqual(['ISSUER_UNAVAILABLE', false]);
    expect(e.message).toContain('the token is disabled');
    expect(await count('generateCredentials')).toBe(1);
  });

  it('check(): one line naming the token, the registry and the identity; no secret', async () => {
    const token = await fresh('check');
    const i = issuerFor(token);
    await issue(i);
    const line = await i.check();
    expect(line).toMatch(
      new RegExp(
        `^token ${token} of registry ${acr.registry} readable as environment credential \\(client ${acr.id('ROTATOR')}, tenant ${acr.tenant}, client secret\\): enabled, password1 created \\S+, expires \\S+$`,
      ),
    );
    for (const s of secrets) expect(line).not.toContain(s);
  });

  it('issued values print as [redacted] everywhere', async () => {
    const token = await fresh('leak');
    const c = await issue(issuerFor(token));
    for (const shown of [
      JSON.stringify(c),
      inspect(c, { depth: 5 }),
      String(c.password),
      c.password.toString(),
    ])
      expect(shown).not.toContain(c.password.reveal());
  });
});
