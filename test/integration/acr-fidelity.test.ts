/**
 * The ACR double against ACR-FACTS.md, driven by the real `@azure/arm-containerregistry` (12.x) signed in
 * through `@azure/identity` against the Entra double, and by raw HTTPS where the SDK hides the wire:
 * ARM's token CRUD shapes, generateCredentials, the keep-set PATCH, long-running answers, throttling,
 * errors and RBAC; then the registry's own auth at `<name>.azurecr.io` in front of a real distribution
 * registry (challenge, Basic, /oauth2/token, scope maps, refused slots, replication delay).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  acr,
  acrAdmin,
  acrCredential,
  acrMark,
  acrRequestsAfter,
  basic,
  https,
  makeToken,
  registry,
  replicationDelay,
  resetAcr,
  sdk,
  slotsOf,
  type AcrRequest,
  type RawReply,
} from '../helpers/acr.ts';
import { env, sleep, suffix } from '../helpers/stack.ts';

const sfx = suffix();
const made: string[] = [];
const fresh = async (what: string) => {
  made.push(await makeToken(`fid-${sfx}-${what}`));
  return made.at(-1)!;
};
const tokenId = (name: string) => `${acr.registryId}/tokens/${name}`;
const rg = () => acr.resourceGroup;
const reg = () => acr.registry;
const bearer = async (app: 'ROTATOR' | 'NOROLE' = 'ROTATOR', audience = acr.audience) =>
  (await acrCredential(app).getToken(`${audience}/.default`)).token;
const arm = async (path: string, opts: { method?: string; body?: unknown; auth?: string | null } = {}) =>
  https(`${acr.arm}${path}`, {
    method: opts.method ?? 'GET',
    headers: {
      ...(opts.auth === null ? {} : { authorization: `Bearer ${opts.auth ?? (await bearer())}` }),
      ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
const parsed = (r: RawReply) => JSON.parse(r.body) as Record<string, unknown>;
const ARM_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}Z$/;

/** The SDK's error (a RestError of its own HTTP runtime): status, ARM's code, ARM's message. */
interface SdkError {
  name: string;
  statusCode?: number;
  code?: string;
  message: string;
}
async function restError(p: Promise<unknown>): Promise<SdkError> {
  const e = (await p.then(
    () => undefined,
    (x: unknown) => x,
  )) as SdkError | undefined;
  expect(e?.name).toBe('RestError');
  return e!;
}
const escaped = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** The requests answered since this test began (the node lane's suites use the double at the same time). */
let mark = 0;
const log = (): Promise<AcrRequest[]> => acrRequestsAfter(mark);
/** …of those, the ones naming `token`. */
const logOf = async (token: string): Promise<AcrRequest[]> =>
  (await log()).filter((l) => l.token === token.toLowerCase());

beforeEach(async () => {
  await resetAcr();
  mark = await acrMark();
});
afterAll(async () => {
  await resetAcr();
  for (const t of made)
    await sdk('CONTRIBUTOR')
      .tokens.delete(rg(), reg(), t)
      .catch(() => undefined);
});

describe('ARM, through the real SDK and identity', () => {
  it('GET: the token shape of the facts — ids, 7-digit UTC times, credentials with empty lists and never a value', async () => {
    const name = await fresh('shape');
    const raw = await arm(`${tokenId(name)}?api-version=2025-11-01`);
    expect(raw.status).toBe(200);
    expect(raw.headers['content-type']).toBe('application/json; charset=utf-8');
    const b = parsed(raw) as { id: string; name: string; type: string; properties: Record<string, unknown> };
    expect(b.id).toBe(tokenId(name));
    expect(b.name).toBe(name);
    expect(b.type).toBe('Microsoft.ContainerRegistry/registries/tokens');
    expect(b.properties).toMatchObject({
      scopeMapId: `${acr.registryId}/scopeMaps/${acr.scopeMap}`,
      provisioningState: 'Succeeded',
      status: 'enabled',
      credentials: { certificates: [], passwords: [] }, // created without passwords (fact 18)
    });
    expect(b.properties['creationDate']).toMatch(ARM_TIME);

    await sdk('ROTATOR').registries.generateCredentials(rg(), reg(), {
      tokenId: tokenId(name),
      name: 'password1',
    });
    const again = parsed(await arm(`${tokenId(name)}?api-version=2025-11-01`)) as {
      properties: { credentials: { passwords: Record<string, unknown>[] } };
    };
    expect(again.properties.credentials.passwords).toHaveLength(1);
    expect(Object.keys(again.properties.credentials.passwords[0]!).sort()).toEqual(['creationTime', 'name']);

    const t = await sdk('ROTATOR').tokens.get(rg(), reg(), name);
    expect(t.credentials?.passwords?.map((p) => [p.name, p.value])).toEqual([['password1', undefined]]);
    expect(t.credentials?.passwords?.[0]?.creationTime).toBeInstanceOf(Date);
  });

  it('list: the SDK follows nextLink ($skipToken, api-version kept) until a page has none', async () => {
    await fresh('list-a');
    await fresh('list-b');
    await acrAdmin('POST', 'settings', { pageSize: 1 });
    const names: string[] = [];
    for await (const t of sdk('ROTATOR').tokens.list(rg(), reg())) names.push(t.name ?? '');
    expect(names).toEqual(expect.arrayContaining([acr.token, `fid-${sfx}-list-a`, `fid-${sfx}-list-b`]));
    const first = parsed(await arm(`${acr.registryId}/tokens?api-version=2025-11-01`)) as {
      value: unknown[];
      nextLink?: string;
    };
    expect(first.value).toHaveLength(1);
    expect(first.nextLink).toMatch(
      new RegExp(`^${acr.arm}${acr.registryId}/tokens\\?api-version=2025-11-01&%24skipToken=[\\w-]+$`),
    );
    const lists = (await log()).filter((l) => l.operation === 'listTokens');
    expect(lists.length).toBeGreaterThanOrEqual(names.length);
  });

  it('create: 201 and no passwords; generateCredentials is 409 TokenNotActive until the token is provisioned', async () => {
    await acrAdmin('POST', 'settings', { provisioningMs: 1500 });
    const name = `fid-${sfx}-new`;
    const put = async (app: 'NOROLE' | 'CONTRIBUTOR') =>
      arm(`${tokenId(name)}?api-version=2025-11-01`, {
        method: 'PUT',
        body: {
          properties: { scopeMapId: `${acr.registryId}/scopeMaps/_repositories_pull`, status: 'enabled' },
        },
        auth: (await acrCredential(app).getToken(`${acr.audience}/.default`)).token,
      });
    expect((await put('NOROLE')).status).toBe(403);
    const created = await put('CONTRIBUTOR');
    made.push(name);
    expect(created.status).toBe(201);
    expect(parsed(created)).toMatchObject({
      properties: { provisioningState: 'Creating', credentials: { certificates: [], passwords: [] } },
    });
    const e = await restError(
      sdk('ROTATOR').registries.generateCredentials(rg(), reg(), { tokenId: tokenId(name) }),
    );
    expect([e.statusCode, e.code]).toEqual([409, 'TokenNotActive']);
    await sleep(1600);
    const g = await sdk('ROTATOR').registries.generateCredentials(rg(), reg(), { tokenId: tokenId(name) });
    expect(g.passwords?.map((p) => p.name)).toEqual(['password1', 'password2']);
  });

  it('generateCredentials for one slot: the value for that slot only, creationTime now, the expiry sent; the other slot listed without value', async () => {
    const name = await fresh('gen1');
    const c = sdk('ROTATOR');
    const first = await c.registries.generateCredentials(rg(), reg(), {
      tokenId: tokenId(name),
      name: 'password1',
    });
    const expiry = new Date(Date.now() + 30 * 86_400_000);
    const before = Date.now();
    const g = await c.registries.generateCredentials(rg(), reg(), {
      tokenId: tokenId(name),
      name: 'password2',
      expiry,
    });
    expect(g.username).toBe(name);
    expect(g.passwords?.map((p) => [p.name, typeof p.value])).toEqual([
      ['password1', 'undefined'],
      ['password2', 'string'],
    ]);
    const p2 = g.passwords![1]!;
    expect(p2.value).toMatch(/^[A-Za-z0-9+/]{32}$/);
    expect(p2.value).toMatch(/[+/]/); // values with / and + exercise escaping (fact 22)
    expect(Math.abs(p2.creationTime!.getTime() - before)).toBeLessThan(5000);
    expect(p2.expiry?.toISOString()).toBe(expiry.toISOString());
    expect(g.passwords![0]!.creationTime).toEqual(first.passwords![0]!.creationTime);
    // A value is never shown again: not by GET, not by LIST (fact 23).
    const listed = JSON.stringify(await c.tokens.get(rg(), reg(), name));
    expect(listed).not.toContain(p2.value);
  });

  it('generateCredentials without a name regenerates both slots, with one creationTime', async () => {
    const name = await fresh('genboth');
    const g = await sdk('ROTATOR').registries.generateCredentials(rg(), reg(), { tokenId: tokenId(name) });
    const [a, b] = g.passwords!;
    expect([a!.name, b!.name]).toEqual(['password1', 'password2']);
    expect(a!.value && b!.value && a!.value !== b!.value).toBe(true);
    expect(a!.creationTime).toEqual(b!.creationTime);
    expect(a!.expiry).toBeUndefined(); // no expiry sent: the slot never expires (fact 8)
  });

  it('PATCH keeps the named slots: the other goes, the kept one keeps its times; a status-only PATCH leaves credentials alone', async () => {
    const name = await fresh('patch');
    const c = sdk('ROTATOR');
    const expiry = new Date(Date.now() + 86_400_000);
    await c.registries.generateCredentials(rg(), reg(), { tokenId: tokenId(name), expiry });
    const before = await slotsOf(name);
    const kept = await c.tokens.update(rg(), reg(), name, {
      credentials: { passwords: [{ name: 'password2' }] },
    });
    expect(kept.credentials?.passwords?.map((p) => p.name)).toEqual(['password2']);
    expect(kept.credentials?.passwords?.[0]?.creationTime).toEqual(before.get('password2')?.creationTime);
    expect(kept.credentials?.passwords?.[0]?.expiry).toEqual(before.get('password2')?.expiry);
    const disabled = await c.tokens.update(rg(), reg(), name, { status: 'disabled' });
    expect(disabled.status).toBe('disabled');
    expect(disabled.credentials?.passwords?.map((p) => p.name)).toEqual(['password2']);
    // What the SDK sent: only the fields set (fact 16).
    const raw = await arm(`${tokenId(name)}?api-version=2025-11-01`, {
      method: 'PATCH',
      body: { properties: { credentials: { passwords: [] } } },
    });
    expect(raw.status).toBe(200);
    expect(parsed(raw)).toMatchObject({ properties: { status: 'disabled', credentials: { passwords: [] } } });
  });

  it('long-running answers: generateCredentials 202 + Location, and 202 + Azure-AsyncOperation + Location; a token PATCH 201 + Azure-AsyncOperation', async () => {
    const name = await fresh('lro');
    const c = sdk('ROTATOR');
    await acrAdmin('POST', 'settings', { generateCredentials: 'location', polls: 2, retryAfterSeconds: 0 });
    const raw = await arm(`${acr.registryId}/generateCredentials?api-version=2025-11-01`, {
      method: 'POST',
      body: { tokenId: tokenId(name), name: 'password1' },
    });
    expect(raw.status).toBe(202);
    expect(raw.headers['location']).toMatch(
      new RegExp(
        `^${acr.arm}${acr.registryId}/operationStatuses/registries-[0-9a-f-]{36}\\?api-version=2025-11-01$`,
      ),
    );
    expect(raw.headers['retry-after']).toBe('0');
    const viaLocation = await c.registries.generateCredentials(
      rg(),
      reg(),
      { tokenId: tokenId(name), name: 'password2' },
      { updateIntervalInMs: 10 },
    );
    expect(viaLocation.passwords?.find((p) => p.name === 'password2')?.value).toEqual(expect.any(String));

    await acrAdmin('POST', 'settings', { generateCredentials: 'async-operation' });
    const viaStatus = await c.registries.generateCredentials(
      rg(),
      reg(),
      { tokenId: tokenId(name), name: 'password1' },
      { updateIntervalInMs: 10 },
    );
    expect(viaStatus.passwords?.find((p) => p.name === 'password1')?.value).toEqual(expect.any(String));

    await acrAdmin('POST', 'settings', { tokenWrites: 'async' });
    const patched = await c.tokens.update(
      rg(),
      reg(),
      name,
      { credentials: { passwords: [{ name: 'password1' }] } },
      { updateIntervalInMs: 10 },
    );
    expect(patched.credentials?.passwords?.map((p) => p.name)).toEqual(['password1']);
    const ops = (await log()).map((l) => `${l.operation} ${l.status}`);
    expect(ops).toEqual(
      expect.arrayContaining([
        'registryOperationStatus 202', // Location polled while running
        'registryOperationStatus 200',
        'updateToken 201',
        'tokenOperationStatus 200',
        'getToken 200', // the final GET of the token after the operation (fact 17)
      ]),
    );
  });

  it('429 with Retry-After: the SDK waits and resends with the same x-ms-client-request-id', async () => {
    await acrAdmin('POST', 'faults', {
      throttle: { times: 2, retryAfterSeconds: 1, operation: 'getToken', token: acr.token },
    });
    const started = Date.now();
    const t = await sdk('ROTATOR').tokens.get(rg(), reg(), acr.token);
    expect(t.name).toBe(acr.token);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
    const gets = (await logOf(acr.token)).filter((l) => l.operation === 'getToken').slice(-3);
    expect(gets.map((l) => l.status)).toEqual([429, 429, 200]);
    expect(new Set(gets.map((l) => l.clientRequestId)).size).toBe(1);
    const raw = await (async () => {
      await acrAdmin('POST', 'faults', { throttle: { times: 1, retryAfterSeconds: 7, token: acr.token } });
      return arm(`${tokenId(acr.token)}?api-version=2025-11-01`);
    })();
    expect(raw.status).toBe(429);
    expect(raw.headers['retry-after']).toBe('7');
    expect(parsed(raw)).toMatchObject({ error: { code: 'SubscriptionRequestsThrottled' } });
  });

  it('an unknown token: 404 ResourceNotFound on GET (ARM’s wording) and on generateCredentials (the provider’s)', async () => {
    const missing = `fid-${sfx}-missing`;
    const e = await restError(sdk('ROTATOR').tokens.get(rg(), reg(), missing));
    expect([e.statusCode, e.code]).toEqual([404, 'ResourceNotFound']);
    expect(e.message).toBe(
      `The Resource 'Microsoft.ContainerRegistry/registries/${acr.registry}/tokens/${missing}' under resource group '${acr.resourceGroup}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
    );
    const g = await restError(
      sdk('ROTATOR').registries.generateCredentials(rg(), reg(), { tokenId: tokenId(missing) }),
    );
    expect([g.statusCode, g.code, g.message]).toEqual([
      404,
      'ResourceNotFound',
      `The resource ${missing} could not be found.`,
    ]);
  });

  it('RBAC: 403 AuthorizationFailed names the client, the missing action and the scope', async () => {
    const e = await restError(sdk('NOROLE').tokens.get(rg(), reg(), acr.token));
    expect([e.statusCode, e.code]).toEqual([403, 'AuthorizationFailed']);
    expect(e.message).toMatch(
      new RegExp(
        `^The client '${acr.id('NOROLE')}' with object id '[0-9a-f-]{36}' does not have authorization to perform action ` +
          `'Microsoft\\.ContainerRegistry/registries/tokens/read' over scope '${escaped(tokenId(acr.token))}' ` +
          'or the scope is invalid\\. If access was recently granted, please refresh your credentials\\.$',
      ),
    );
    const g = await restError(
      sdk('NOROLE').registries.generateCredentials(rg(), reg(), { tokenId: tokenId(acr.token) }),
    );
    expect(g.message).toContain(
      `perform action 'Microsoft.ContainerRegistry/registries/generateCredentials/action' over scope '${acr.registryId}'`,
    );
    // The custom role holds exactly what an issuer needs: not even reading scope maps.
    const m = await restError(sdk('ROTATOR').scopeMaps.get(rg(), reg(), acr.scopeMap));
    expect(m.message).toContain("'Microsoft.ContainerRegistry/registries/scopeMaps/read'");
    const built = await sdk('CONTRIBUTOR').scopeMaps.get(rg(), reg(), acr.scopeMap);
    expect(built.actions).toEqual(['repositories/regcred/busybox/content/read']);
  });

  it('401 without a token (the challenge and body of fact 25) and with a token for another audience', async () => {
    const none = await arm(`${tokenId(acr.token)}?api-version=2025-11-01`, { auth: null });
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe(
      `Bearer authorization_uri="https://login.windows.net/${acr.tenant}", error="invalid_token", error_description="The authentication failed because of missing 'Authorization' header."`,
    );
    expect(none.body).toBe(
      '{"error":{"code":"AuthenticationFailed","message":"Authentication failed. The \'Authorization\' header is missing."}}',
    );
    const vault = await arm(`${tokenId(acr.token)}?api-version=2025-11-01`, {
      auth: await bearer('ROTATOR', 'https://vault.azure.net'),
    });
    expect(vault.status).toBe(401);
    expect(parsed(vault)).toMatchObject({ error: { code: 'InvalidAuthenticationTokenAudience' } });
  });

  it('any api-version, plain or %2D-encoded (the SDK option apiVersion is sent as is); none is 400', async () => {
    const t = await sdk('ROTATOR', { apiVersion: '2023-07-01' }).tokens.get(rg(), reg(), acr.token);
    expect(t.name).toBe(acr.token);
    expect((await logOf(acr.token)).at(-1)?.apiVersion).toBe('2023-07-01');
    const encoded = await arm(`${tokenId(acr.token)}?api%2Dversion=2026-09-01-preview`);
    expect(encoded.status).toBe(200);
    const none = await arm(tokenId(acr.token));
    expect(none.status).toBe(400);
    expect(parsed(none)).toMatchObject({ error: { code: 'MissingApiVersionParameter' } });
  });
});

describe('the registry <name>.azurecr.io', () => {
  let name = '';
  let password = '';
  const repo = 'regcred/busybox';
  const OCI =
    'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';

  const generate = async (slot: 'password1' | 'password2', expiry?: Date) => {
    const g = await sdk('ROTATOR').registries.generateCredentials(rg(), reg(), {
      tokenId: tokenId(name),
      name: slot,
      ...(expiry ? { expiry } : {}),
    });
    return g.passwords!.find((p) => p.name === slot)!.value!;
  };
  const accepted = async (pw: string) => (await registry('/v2/', basic(name, pw))).status === 200;
  const tokenFor = (pw: string, scope = `repository:${repo}:pull`) =>
    registry(`/oauth2/token?service=${acr.loginServer}&scope=${encodeURIComponent(scope)}`, basic(name, pw));

  beforeAll(async () => {
    await resetAcr();
    name = await fresh('dp');
    password = await generate('password1');
  });

  it('the challenge: Bearer realm and service on /v2/, plus the scope and a detailed body on a repository', async () => {
    const root = await registry('/v2/');
    expect(root.status).toBe(401);
    expect(root.headers['www-authenticate']).toBe(
      `Bearer realm="https://${acr.loginServer}/oauth2/token",service="${acr.loginServer}"`,
    );
    expect(root.headers['docker-distribution-api-version']).toBe('registry/2.0');
    const m = await registry(`/v2/${repo}/manifests/1`);
    expect(m.headers['www-authenticate']).toBe(
      `Bearer realm="https://${acr.loginServer}/oauth2/token",service="${acr.loginServer}",scope="repository:${repo}:pull"`,
    );
    expect(JSON.parse(m.body)).toEqual({
      errors: [
        {
          code: 'UNAUTHORIZED',
          message: 'authentication required, visit https://aka.ms/acr/authorization for more information.',
          detail: [{ Type: 'repository', Name: repo, Action: 'pull' }],
        },
      ],
    });
  });

  it('docker-style: /oauth2/token with Basic gives a JWT whose access follows the scope map; the Bearer pulls what the distribution registry holds', async () => {
    const t = await tokenFor(password, `repository:${repo}:pull,push`);
    expect(t.status).toBe(200);
    const jwt = (JSON.parse(t.body) as { access_token: string }).access_token;
    const claims = JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<
      string,
      unknown
    >;
    expect(claims).toMatchObject({
      iss: 'Azure Container Registry',
      aud: acr.loginServer,
      sub: name,
      version: '1.0',
      access: [{ type: 'repository', name: repo, actions: ['pull'] }], // content/read only: no push
    });
    const manifest = await registry(`/v2/${repo}/manifests/1`, {
      authorization: `Bearer ${jwt}`,
      accept: OCI,
    });
    expect(manifest.status).toBe(200);
    const backend = await fetch(`${env('REGCRED_STACK_ACR_BACKEND')}/v2/${repo}/manifests/1`, {
      headers: { accept: OCI },
    });
    expect(manifest.headers['docker-content-digest']).toBe(backend.headers.get('docker-content-digest'));
    const layer = (JSON.parse(manifest.body) as { layers: { digest: string; size: number }[] }).layers[0]!;
    const blob = await registry(
      `/v2/${repo}/blobs/${layer.digest}`,
      { authorization: `Bearer ${jwt}` },
      'HEAD',
    );
    expect([blob.status, Number(blob.headers['content-length'])]).toEqual([200, layer.size]);
  });

  it('the az CLI POST password grant works; containerd’s POST (with client_id) is 400, so it falls back to GET', async () => {
    const form = (extra: Record<string, string>) =>
      new URLSearchParams({
        grant_type: 'password',
        service: acr.loginServer,
        scope: `repository:${repo}:pull`,
        username: name,
        password,
        ...extra,
      }).toString();
    const post = (body: string) =>
      https(`https://${acr.loginServer}/oauth2/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
      });
    const cli = await post(form({}));
    expect(cli.status).toBe(200);
    expect(JSON.parse(cli.body)).toHaveProperty('access_token');
    expect((await post(form({ client_id: 'containerd-client' }))).status).toBe(400);
  });

  it('Basic straight on /v2/* for a live slot; wrong credentials get the Basic realm challenge, not Bearer', async () => {
    expect((await registry('/v2/', basic(name, password))).status).toBe(200);
    const m = await registry(`/v2/${repo}/manifests/1`, { ...basic(name, password), accept: OCI });
    expect(m.status).toBe(200);
    const bad = await registry('/v2/', basic(name, `${password}x`));
    expect(bad.status).toBe(401);
    expect(bad.headers['www-authenticate']).toBe('Basic realm="Azure Container Registry"');
    expect(JSON.parse(bad.body)).toMatchObject({ errors: [{ code: 'UNAUTHORIZED' }] });
    expect((await tokenFor(`${password}x`)).status).toBe(401);
  });

  it('outside the scope map: a token with no access; 401 insufficient_scope with it, 403 DENIED with Basic', async () => {
    const t = await tokenFor(password, 'repository:other/app:pull');
    expect(t.status).toBe(200);
    const jwt = (JSON.parse(t.body) as { access_token: string }).access_token;
    expect(JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString())).toMatchObject({ access: [] });
    const withJwt = await registry('/v2/other/app/manifests/1', { authorization: `Bearer ${jwt}` });
    expect(withJwt.status).toBe(401);
    expect(withJwt.headers['www-authenticate']).toContain('error="insufficient_scope"');
    expect((await registry('/v2/other/app/manifests/1', basic(name, password))).status).toBe(403);
  });

  it('refused: a removed slot, an expired slot, a disabled token — on /v2/ and at /oauth2/token', async () => {
    const p2 = await generate('password2', new Date(Date.now() + 2500));
    expect(await accepted(p2)).toBe(true);
    await sleep(2600);
    expect(await accepted(p2)).toBe(false); // expired
    expect((await tokenFor(p2)).status).toBe(401);

    const p2b = await generate('password2');
    expect(await accepted(p2b)).toBe(true);
    await sdk('ROTATOR').tokens.update(rg(), reg(), name, {
      credentials: { passwords: [{ name: 'password1' }] },
    });
    expect(await accepted(p2b)).toBe(false); // removed
    expect((await tokenFor(p2b)).status).toBe(401);
    expect(await accepted(password)).toBe(true); // the kept slot still works

    await sdk('ROTATOR').tokens.update(rg(), reg(), name, { status: 'disabled' });
    expect(await accepted(password)).toBe(false);
    expect((await tokenFor(password)).status).toBe(401);
    await sdk('ROTATOR').tokens.update(rg(), reg(), name, { status: 'enabled' });
    expect(await accepted(password)).toBe(true);
  });

  it("replication: a regenerated slot is refused until it replicates while its old value still works; filling an empty slot needs no wait; the delay is the token's, other tokens are not slowed", async () => {
    await replicationDelay(name, 3000);
    const other = await fresh('dp-other');
    const otherPassword = async (slot: 'password1' | 'password2') => {
      const g = await sdk('ROTATOR').registries.generateCredentials(rg(), reg(), {
        tokenId: tokenId(other),
        name: slot,
      });
      return g.passwords!.find((p) => p.name === slot)!.value!;
    };
    await otherPassword('password1');
    const empty = await generate('password2'); // password2 was removed above: an empty slot
    expect(await accepted(empty)).toBe(true);
    const next = await generate('password1'); // overwrites password1's value
    const at = Date.now();
    const otherNext = await otherPassword('password1'); // overwrites too, on a token without a delay
    expect(await accepted(next)).toBe(false);
    expect(await accepted(password)).toBe(true); // the old value until the new one arrives
    expect((await registry('/v2/', basic(other, otherNext))).status).toBe(200);
    // A settings reset (other tests do one before each of theirs) leaves the token's delay alone.
    await acrAdmin('DELETE', 'settings');
    expect(await acrAdmin('GET', 'replication')).toContainEqual({
      registry: acr.registry,
      token: name,
      delayMs: 3000,
    });
    while (!(await accepted(next))) {
      expect(Date.now() - at).toBeLessThan(6000);
      await sleep(200);
    }
    expect(Date.now() - at).toBeGreaterThanOrEqual(2800);
    expect(await accepted(password)).toBe(false);
    password = next;
  });
});
