/**
 * The facts about a real Gitea that the gitea-token issuer relies on, checked against the stack's Gitea:
 * how tokens are minted, listed and deleted, that two are valid at once, what a deletion does at the
 * registry, what a `read:package` token of a non-admin team member may do, and who may mint a user's tokens.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminAuth,
  api,
  basic,
  challenge,
  createToken,
  deleteToken,
  gitea,
  listTokens,
  manifest,
  pullManifest,
  realmToken,
  v2,
  type ApiToken,
} from '../helpers/gitea.ts';
import { sleep, suffix } from '../helpers/stack.ts';

const made: { user: string; id: number }[] = [];
const mint = async (name: string, scopes?: string[]) => {
  const t = await createToken(gitea.puller, gitea.pullerPassword, `facts-${name}-${suffix()}`, scopes);
  made.push({ user: gitea.puller, id: t.id });
  return t;
};
const puller = () => gitea.puller;

afterAll(async () => {
  for (const t of made) await deleteToken(t.user, t.id);
});

describe('Gitea access tokens', () => {
  it('are created with Basic auth (201, the value shown once), listed without it, deleted by id', async () => {
    const t = await mint('once');
    expect(t.sha1).toMatch(/^[0-9a-f]{40}$/);
    expect(t.scopes).toEqual(['read:package']);
    const listed = (await listTokens(puller())).find((x) => x.id === t.id);
    expect(listed).toMatchObject({ name: t.name, token_last_eight: t.sha1.slice(-8) });
    expect(listed?.sha1 ?? '').toBe('');
    expect(JSON.stringify(await listTokens(puller()))).not.toContain(t.sha1);
    // Gitea records the creation time; the issuer reads it as issuedAt.
    expect(Math.abs(Date.parse(listed?.created_at ?? '') - Date.now())).toBeLessThan(120_000);

    expect(await deleteToken(puller(), t.id)).toBe(204);
    expect((await listTokens(puller())).map((x) => x.id)).not.toContain(t.id);
    expect(await deleteToken(puller(), t.id)).toBe(404);
  });

  it('record their last use (last_used_at moves when the token logs in at the realm)', async () => {
    const t = await mint('used');
    const at = async () => (await listTokens(puller())).find((x) => x.id === t.id);
    const fresh = await at();
    expect(fresh?.last_used_at).toBe(fresh?.created_at);
    await sleep(1100); // Gitea keeps whole seconds
    expect((await realmToken(puller(), t.sha1)).status).toBe(200);
    const used = await at();
    expect(Date.parse(used?.last_used_at ?? '')).toBeGreaterThan(Date.parse(fresh?.created_at ?? ''));
    expect(used?.created_at).toBe(fresh?.created_at);
  });

  it('a second token with the same name is refused (400), so a lost answer shows as "name used"', async () => {
    const t = await mint('dup');
    const again = await api('POST', `/users/${puller()}/tokens`, basic(puller(), gitea.pullerPassword), {
      name: t.name,
      scopes: ['read:package'],
    });
    expect(again.status).toBe(400);
    expect(JSON.stringify(again.body)).toMatch(/has been used already/);
  });

  it('two are valid at once; after one is deleted it is refused at the realm and on /v2/, the other works', async () => {
    const a = await mint('a');
    const b = await mint('b');
    for (const t of [a, b]) {
      expect((await realmToken(puller(), t.sha1)).status).toBe(200);
      expect(await v2(basic(puller(), t.sha1))).toBe(200);
    }
    expect(await deleteToken(puller(), a.id)).toBe(204);
    expect((await realmToken(puller(), a.sha1)).status).toBe(401);
    expect(await v2(basic(puller(), a.sha1))).toBe(401);
    expect((await realmToken(puller(), b.sha1)).status).toBe(200);
    expect(await v2(basic(puller(), b.sha1))).toBe(200);
  });

  it('a wrong password is refused: 401 at the API, the realm and /v2/', async () => {
    const wrong = `${gitea.pullerPassword}x`;
    expect((await api('GET', `/users/${puller()}/tokens`, basic(puller(), wrong))).status).toBe(401);
    expect((await realmToken(puller(), wrong)).status).toBe(401);
    expect(await v2(basic(puller(), wrong))).toBe(401);
    // The right one, for contrast: the refusals above are about the password, not the route.
    expect(
      (await api('GET', `/users/${puller()}/tokens`, basic(puller(), gitea.pullerPassword))).status,
    ).toBe(200);
  });
});

describe("Gitea's container registry with a read:package token of the puller", () => {
  it('challenges with a Bearer realm on ROOT_URL (PUBLIC_URL_DETECTION = never)', async () => {
    const c = await challenge();
    // Two WWW-Authenticate headers, Bearer first (fetch joins them): the verifier must pick the token flow.
    expect(c.raw).toMatch(
      /^Bearer realm="[^"]+",service="container_registry",scope="\*", Basic realm="Gitea Container Registry"$/,
    );
    expect(c.realm).toBe(`${gitea.url}/v2/token`);
    expect((await manifest('')).status).toBe(401); // private: nothing without a login
  });

  it('pulls the private image through the challenge → token flow', async () => {
    const t = await mint('pull');
    expect(await pullManifest(puller(), t.sha1)).toBe(200);
    const body = (await (await manifest(`Bearer ${(await realmToken(puller(), t.sha1)).token}`)).json()) as {
      layers?: unknown[];
    };
    expect(body.layers?.length).toBeGreaterThan(0);
  });

  it('cannot push (asking the realm for push changes nothing)', async () => {
    const t = await mint('push');
    const tok = await realmToken(puller(), t.sha1, 'repository:regcred/busybox:pull,push');
    expect(tok.status).toBe(200);
    const upload = await fetch(`https://${gitea.registry}/v2/regcred/busybox/blobs/uploads/`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tok.token}` },
    });
    expect(upload.status).toBe(401);
    expect(await upload.text()).toMatch(/reqPackageAccess/);
    // The admin can, through the same route: the refusal is the puller's, not the route's.
    const admin = await realmToken(gitea.admin, gitea.adminPassword, 'repository:regcred/busybox:pull,push');
    const ok = await fetch(`https://${gitea.registry}/v2/regcred/busybox/blobs/uploads/`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin.token}` },
    });
    expect(ok.status).toBe(202);
  });

  it('a bearer token from before a revocation keeps working until it expires (24 h): revocation shows at the realm', async () => {
    const t = await mint('jwt');
    const before = await realmToken(puller(), t.sha1);
    expect(before.status).toBe(200);
    const claims = JSON.parse(
      Buffer.from((before.token ?? '').split('.')[1] ?? '', 'base64url').toString(),
    ) as {
      exp: number;
      nbf: number;
      UserID: number;
      Scope: string;
    };
    expect(claims.exp - claims.nbf).toBe(24 * 3600);
    expect(claims.Scope).toBe('read:package');
    expect(await deleteToken(puller(), t.id)).toBe(204);
    expect((await realmToken(puller(), t.sha1)).status).toBe(401);
    // Observed: the JWT is tied to the user and scope, not to the token that got it.
    expect((await manifest(`Bearer ${before.token}`)).status).toBe(200);
  });
});

describe("who may mint a user's tokens (the issuer's least-privileged login)", () => {
  let other = '';
  const otherPassword = `Other-${suffix()}-${suffix()}`;
  beforeAll(async () => {
    other = `regcred-other-${suffix()}`;
    const r = await api('POST', '/admin/users', adminAuth(), {
      username: other,
      email: `${other}@regcred.invalid`,
      password: otherPassword,
      must_change_password: false,
    });
    expect(r.status).toBe(201);
  });
  afterAll(async () => {
    await api('DELETE', `/admin/users/${other}?purge=true`, adminAuth());
  });
  const create = (auth: string, scopes = ['read:package']) =>
    api('POST', `/users/${puller()}/tokens`, auth, { name: `facts-who-${suffix()}`, scopes });
  const keep = (r: { status: number; body: unknown }) => {
    if (r.status === 201) made.push({ user: puller(), id: (r.body as ApiToken).id });
    return r;
  };

  it('the user itself with its password: yes', async () => {
    expect(keep(await create(basic(puller(), gitea.pullerPassword))).status).toBe(201);
  });

  it('another non-admin user: no (403)', async () => {
    const r = await create(basic(other, otherPassword));
    expect(r.status).toBe(403);
    expect(JSON.stringify(r.body)).toMatch(/site admin or be same as the contextUser/);
  });

  it('a site admin: yes (so the least privilege is not an admin)', async () => {
    expect(keep(await create(adminAuth())).status).toBe(201);
  });

  it('a token as the Basic password: with write:user and the child scope, yes; never broader', async () => {
    const manager = await mint('manager', ['write:user', 'read:package']);
    const asManager = basic(puller(), manager.sha1);
    expect(keep(await create(asManager)).status).toBe(201);
    const broader = await create(asManager, ['write:package']);
    expect(broader.status).toBe(403);
    expect(JSON.stringify(broader.body)).toMatch(/broader scope/);
    // Listing and deleting work with it too.
    expect((await api('GET', `/users/${puller()}/tokens`, asManager)).status).toBe(200);
    const child = keep(await create(asManager));
    const id = (child.body as ApiToken).id;
    expect((await api('DELETE', `/users/${puller()}/tokens/${id}`, asManager)).status).toBe(204);
  });

  it('a token without write:user: no (403, missing scope)', async () => {
    const pull = await mint('noscope');
    const r = await create(basic(puller(), pull.sha1));
    expect(r.status).toBe(403);
    expect(JSON.stringify(r.body)).toMatch(/required scope/);
  });

  it('a token with read:user lists the tokens but cannot create one (403, write:user required)', async () => {
    const reader = await mint('reader', ['read:user', 'read:package']);
    expect((await api('GET', `/users/${puller()}/tokens`, basic(puller(), reader.sha1))).status).toBe(200);
    const r = await create(basic(puller(), reader.sha1));
    expect(r.status).toBe(403);
    expect(JSON.stringify(r.body)).toMatch(/required=\[write:user\]/);
  });

  it('a token in an `Authorization: token` header: no (401, Basic only)', async () => {
    const manager = await mint('header', ['write:user', 'read:package']);
    expect((await create(`token ${manager.sha1}`)).status).toBe(401);
    // The same token as the Basic password is accepted: the refusal is about the scheme.
    expect(keep(await create(basic(puller(), manager.sha1))).status).toBe(201);
  });
});

describe('a user with prohibit_login', () => {
  it('gets registry tokens from the realm, but every registry request and API call is refused', async () => {
    const name = `regcred-prohibited-${suffix()}`;
    const password = `Pw-${suffix()}-${suffix()}`;
    const created = await api('POST', '/admin/users', adminAuth(), {
      username: name,
      email: `${name}@regcred.invalid`,
      password,
      must_change_password: false,
    });
    expect(created.status).toBe(201);
    try {
      const teams = (await api('GET', '/orgs/regcred/teams', adminAuth())).body as {
        id: number;
        name: string;
      }[];
      const pullers = teams.find((t) => t.name === 'pullers')?.id;
      expect((await api('PUT', `/teams/${pullers}/members/${name}`, adminAuth())).status).toBe(204);
      const t = await createToken(name, password, 'pull', ['read:package', 'write:user']);
      const before = await realmToken(name, t.sha1);
      expect((await manifest(`Bearer ${before.token}`)).status).toBe(200);

      const edit = await api('PATCH', `/admin/users/${name}`, adminAuth(), {
        login_name: name,
        source_id: 0,
        prohibit_login: true,
      });
      expect(edit.status).toBe(200);
      // Unlike a deleted token, the user's state is checked on every registry request: old JWTs stop too.
      expect((await manifest(`Bearer ${before.token}`)).status).toBe(401);
      const after = await realmToken(name, t.sha1);
      expect(after.status).toBe(200);
      expect((await manifest(`Bearer ${after.token}`)).status).toBe(401);
      const list = await api('GET', `/users/${name}/tokens`, basic(name, t.sha1));
      expect(list.status).toBe(403);
      expect(JSON.stringify(list.body)).toMatch(/prohibited from signing in/);
    } finally {
      await api('DELETE', `/admin/users/${name}?purge=true`, adminAuth());
    }
  });
});
