/**
 * The Harbor double against what Harbor 2.15 was seen to do (HARBOR-FACTS: the routes table, the
 * observations a rotator lives with, expiry and refresh): status, headers, bodies, the 1.5 s login
 * penalty, token claims, and what the real distribution registry behind the double accepts with its
 * tokens. Raw HTTPS, no client in between; then Harbor's own swagger-generated Python client
 * (PyPI harbor-api-client) drives the double and checks every answer against the models it was generated
 * from.
 */
import { spawnSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MANIFEST,
  admin,
  adminApi,
  call,
  createProject,
  createRobot,
  decodeJwt,
  harbor,
  json,
  projectRobot,
  pull,
  skopeo,
  token,
  OwnHarbor,
  type CreatedRobot,
} from '../helpers/harbor.ts';
import { suffix } from '../helpers/stack.ts';

const sfx = suffix();
const project = `fid-${sfx}`;
const API = '/api/v2.0';
let projectId = 0;
let puller: CreatedRobot;
const creds = (r: CreatedRobot, secret = r.secret) => ({ user: r.name, pass: secret });
const ALNUM32 = /^[A-Za-z0-9]{32}$/;

/** The libtrust key id of a certificate's public key, computed here independently of the double. */
function libtrustKid(pem: string): string {
  const der = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  const bytes = createHash('sha256').update(der).digest().subarray(0, 30);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const b of bytes) bits += b.toString(2).padStart(8, '0');
  let s = '';
  for (let i = 0; i < bits.length; i += 5)
    s += alphabet.charAt(parseInt(bits.slice(i, i + 5).padEnd(5, '0'), 2));
  return s.match(/.{4}/g)!.join(':');
}

beforeAll(async () => {
  await adminApi('/penalty', { ms: 1500 });
  projectId = await createProject(project);
  const pushed = skopeo(['copy', `docker://${harbor.image}`, `docker://${harbor.host}/${project}/app:v1`], {
    user: harbor.adminUser,
    pass: harbor.adminPassword,
  });
  expect(pushed.code, pushed.out).toBe(0);
  puller = await createRobot(projectRobot('ci-puller', project));
});
afterAll(async () => {
  await adminApi('/clock', { skewSeconds: 0 });
});

/** A knob of another double's admin API. */
async function adminApiOf(h: OwnHarbor, path: string, body: unknown): Promise<void> {
  const r = await call('POST', `${h.adminApi}${path}`, { body });
  expect(r.status).toBe(200);
}

describe('the routes table', () => {
  it('admin via Basic: users/current → 200 with user_id 1, sysadmin_flag; a wrong password → 401', async () => {
    const r = await call('GET', `${API}/users/current`, { auth: admin() });
    expect(r.status).toBe(200);
    expect(json(r)).toMatchObject({ user_id: 1, username: 'admin', sysadmin_flag: true });
    const bad = await call('GET', `${API}/users/current`, {
      auth: { user: 'admin', pass: 'Wrong-password1' },
    });
    expect(bad.status).toBe(401);
    expect(json(bad)).toEqual({ errors: [{ code: 'UNAUTHORIZED', message: 'unauthorized' }] });
  });

  it('create project: 201, Location /api/v2.0/projects/<id>, empty body; the same name again → 409', async () => {
    const name = `fid-p-${sfx}`;
    const r = await call('POST', `${API}/projects`, {
      auth: admin(),
      body: { project_name: name, metadata: { public: 'false' } },
    });
    expect(r.status).toBe(201);
    expect(r.headers.location).toMatch(/^\/api\/v2\.0\/projects\/\d+$/);
    expect(r.text).toBe('');
    const again = await call('POST', `${API}/projects`, { auth: admin(), body: { project_name: name } });
    expect(again.status).toBe(409);
    expect(json(again)).toEqual({
      errors: [{ code: 'CONFLICT', message: `The project named ${name} already exists` }],
    });
  });

  it('create robot: 201, Location /api/v2.0/robots/<id>, {creation_time, expires_at:-1, id, name robot$<project>+<name>, secret of 32 alnum}', async () => {
    const r = await call('POST', `${API}/robots`, { auth: admin(), body: projectRobot('shape', project) });
    expect(r.status).toBe(201);
    const b = json<CreatedRobot>(r);
    expect(r.headers.location).toBe(`/api/v2.0/robots/${b.id}`);
    expect(Object.keys(b)).toEqual(['creation_time', 'expires_at', 'id', 'name', 'secret']);
    expect(b.name).toBe(`robot$${project}+shape`);
    expect(b.secret).toMatch(ALNUM32);
    expect(b.expires_at).toBe(-1);
    expect(b.creation_time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('anonymous /v2/: 401, the Bearer challenge at <url>/service/token for harbor-registry, registry/2.0', async () => {
    const r = await call('GET', '/v2/');
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toBe(
      `Bearer realm="${harbor.url}/service/token",service="harbor-registry"`,
    );
    expect(r.headers['docker-distribution-api-version']).toBe('registry/2.0');
  });

  it('token without scope (docker login): 200 {token, access_token:"", expires_in:1800, issued_at}; a wrong secret → 401 with an empty body', async () => {
    const r = await token(creds(puller));
    expect(r.status).toBe(200);
    const b = json(r);
    expect(Object.keys(b)).toEqual(['token', 'access_token', 'expires_in', 'issued_at']);
    expect(b).toMatchObject({ access_token: '', expires_in: 1800 });
    expect(b.issued_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const bad = await token(creds(puller, 'Wrong-secret-1'));
    expect(bad.status).toBe(401);
    expect(bad.text).toBe('');
  });

  it('token with a pull scope: RS256 JWT, libtrust kid of the signing cert, iss/sub/aud/access; a wrong secret → 200 anonymous token (no sub, actions [])', async () => {
    const scope = `repository:${project}/app:pull`;
    const r = await token(creds(puller), scope);
    expect(r.status).toBe(200);
    const { header, claims } = decodeJwt(json<{ token: string }>(r).token);
    expect(header).toEqual({
      alg: 'RS256',
      kid: libtrustKid(readFileSync(harbor.tokenCert, 'utf8')),
      typ: 'JWT',
    });
    expect(claims).toMatchObject({
      iss: 'harbor-token-issuer',
      sub: puller.name,
      aud: 'harbor-registry',
      access: [{ type: 'repository', name: `${project}/app`, actions: ['pull'] }],
    });
    expect((claims.exp as number) - (claims.iat as number)).toBe(1800);
    const anon = await token(creds(puller, 'Wrong-secret-1'), scope);
    expect(anon.status).toBe(200);
    const a = decodeJwt(json<{ token: string }>(anon).token).claims;
    expect(a).not.toHaveProperty('sub');
    expect(a.access).toEqual([{ type: 'repository', name: `${project}/app`, actions: [] }]);
  });

  it('/v2/ with the Bearer token → 200 {}; with Basic robot credentials → 200; a wrong secret over Basic → 401', async () => {
    const t = json<{ token: string }>(await token(creds(puller))).token;
    const r = await call('GET', '/v2/', { auth: { bearer: t } });
    expect(r.status).toBe(200);
    expect(r.text.trim()).toBe('{}');
    expect((await call('GET', '/v2/', { auth: creds(puller) })).status).toBe(200);
    const bad = await call('GET', '/v2/', { auth: creds(puller, 'Wrong-secret-1') });
    expect(bad.status).toBe(401);
    expect(bad.headers['www-authenticate']).toBe('Basic realm="harbor"');
  });

  it('pull via challenge → token → retry: 200 + digest; push with the pull-only robot → 401; another project → 401 "project … not found"', async () => {
    const r = await pull(`${project}/app`, 'v1', creds(puller));
    expect(r.status).toBe(200);
    expect(r.headers['docker-content-digest']).toMatch(/^sha256:[0-9a-f]{64}$/);
    const push = skopeo(
      ['copy', `docker://${harbor.host}/${project}/app:v1`, `docker://${harbor.host}/${project}/app:pushed`],
      creds(puller),
    );
    expect(push.code).not.toBe(0);
    expect(push.out).toContain(`unauthorized to access repository: ${project}/app, action: push`);
    const other = await call('GET', `/v2/other-${sfx}/app/manifests/v1`, {
      auth: creds(puller),
      headers: MANIFEST,
    });
    expect(other.status).toBe(401);
    expect(json<{ errors: { message: string }[] }>(other).errors[0]!.message).toContain(
      `project other-${sfx} not found`,
    );
  });

  it('refresh (server-generated): PATCH {} → 200 {"secret": <new 32 alnum>}; afterwards the old secret is refused everywhere and the new one works', async () => {
    const r0 = await createRobot(projectRobot('refresh', project));
    const patched = await call('PATCH', `${API}/robots/${r0.id}`, { auth: admin(), body: {} });
    expect(patched.status).toBe(200);
    const fresh = json<{ secret: string }>(patched).secret;
    expect(Object.keys(json(patched))).toEqual(['secret']);
    expect(fresh).toMatch(ALNUM32);
    expect(fresh).not.toBe(r0.secret);
    const old = creds(r0);
    expect((await token(old)).status).toBe(401);
    expect(
      decodeJwt(json<{ token: string }>(await token(old, `repository:${project}/app:pull`)).token).claims,
    ).not.toHaveProperty('sub');
    expect((await call('GET', '/v2/', { auth: old })).status).toBe(401);
    expect((await call('GET', `${API}/projects/${projectId}`, { auth: old })).status).toBe(401);
    expect((await call('GET', '/v2/', { auth: creds(r0, fresh) })).status).toBe(200);
    expect((await pull(`${project}/app`, 'v1', creds(r0, fresh))).status).toBe(200);
  });

  it("refresh (caller-chosen): 200 {} (not echoed); a weak secret → 400 with Harbor's rule", async () => {
    const r0 = await createRobot(projectRobot('chosen', project));
    const r = await call('PATCH', `${API}/robots/${r0.id}`, {
      auth: admin(),
      body: { secret: 'MyChosenSecret123' },
    });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text)).toEqual({});
    expect((await call('GET', '/v2/', { auth: creds(r0, 'MyChosenSecret123') })).status).toBe(200);
    const weak = await call('PATCH', `${API}/robots/${r0.id}`, { auth: admin(), body: { secret: 'weak' } });
    expect(weak.status).toBe(400);
    expect(json(weak)).toEqual({
      errors: [
        {
          code: 'BAD_REQUEST',
          message:
            'the secret must be 8-128, inclusively, characters long with at least 1 uppercase letter, 1 lowercase letter and 1 number',
        },
      ],
    });
  });

  it('disable: PUT the full object → 200 empty; a short name or a rename → 400; then Basic and pulls → 401 ("deactivated robot account"); re-enable → pulls work', async () => {
    const r0 = await createRobot(projectRobot('disable', project));
    const full = json(await call('GET', `${API}/robots/${r0.id}`, { auth: admin() }));
    for (const name of ['disable', `robot$${project}+renamed`]) {
      const bad = await call('PUT', `${API}/robots/${r0.id}`, {
        auth: admin(),
        body: { ...full, name, disable: true },
      });
      expect(bad.status).toBe(400);
      expect(json(bad)).toEqual({
        errors: [{ code: 'BAD_REQUEST', message: 'cannot update the level or name of robot' }],
      });
    }
    const put = await call('PUT', `${API}/robots/${r0.id}`, {
      auth: admin(),
      body: { ...full, disable: true },
    });
    expect(put.status).toBe(200);
    expect(put.text).toBe('');
    expect((await call('GET', '/v2/', { auth: creds(r0) })).status).toBe(401);
    expect((await pull(`${project}/app`, 'v1', creds(r0))).status).toBe(401);
    const log = (await adminApi('/auth-log')) as { name: string; reason: string }[];
    expect(log.some((e) => e.name === r0.name && e.reason.includes('deactivated robot account'))).toBe(true);
    expect(
      (await call('PUT', `${API}/robots/${r0.id}`, { auth: admin(), body: { ...full, disable: false } }))
        .status,
    ).toBe(200);
    expect((await pull(`${project}/app`, 'v1', creds(r0))).status).toBe(200);
  });

  it('delete: 200; a GET afterwards → 404', async () => {
    const r0 = await createRobot(projectRobot('delete', project));
    expect((await call('DELETE', `${API}/robots/${r0.id}`, { auth: admin() })).status).toBe(200);
    const gone = await call('GET', `${API}/robots/${r0.id}`, { auth: admin() });
    expect(gone.status).toBe(404);
    expect(json(gone)).toEqual({ errors: [{ code: 'NOT_FOUND', message: `robot ${r0.id} not found` }] });
  });
});

describe('what a rotator has to live with', () => {
  it('tokens minted before a refresh or a disable stay valid (stateless JWTs)', async () => {
    const r0 = await createRobot(projectRobot('stateless', project));
    const t = json<{ token: string }>(await token(creds(r0), `repository:${project}/app:pull`)).token;
    await call('PATCH', `${API}/robots/${r0.id}`, { auth: admin(), body: {} });
    const full = json(await call('GET', `${API}/robots/${r0.id}`, { auth: admin() }));
    await call('PUT', `${API}/robots/${r0.id}`, { auth: admin(), body: { ...full, disable: true } });
    const r = await call('GET', `/v2/${project}/app/manifests/v1`, {
      auth: { bearer: t },
      headers: MANIFEST,
    });
    expect(r.status).toBe(200);
  });

  it('every failed Basic login sleeps 1.5 s and locks that name meanwhile (the right password fails at once); other names are not slowed', async () => {
    const user = `penalty-${sfx}`;
    const pass = 'Penalty-pass-1';
    const made = await call('POST', `${API}/users`, {
      auth: admin(),
      body: { username: user, email: `${user}@example.com`, realname: user, password: pass },
    });
    expect(made.status).toBe(201);
    const wrong = call('GET', `${API}/users/current`, { auth: { user, pass: 'Wrong-pass-1' } });
    await new Promise((r) => setTimeout(r, 300));
    const locked = await call('GET', `${API}/users/current`, { auth: { user, pass } });
    const other = await call('GET', `${API}/users/current`, { auth: admin() });
    const w = await wrong;
    expect(w.status).toBe(401);
    expect(w.ms).toBeGreaterThanOrEqual(1450);
    expect(locked.status).toBe(401);
    expect(locked.ms).toBeLessThan(1300); // well short of the 1.5 s a failed login costs
    expect(other.status).toBe(200);
    expect(other.ms).toBeLessThan(1300); // well short of the 1.5 s a failed login costs
    const robotWrong = await call('GET', '/v2/', { auth: creds(puller, 'Wrong-secret-1') });
    expect(robotWrong.ms).toBeGreaterThanOrEqual(1450);
    // A robot's right secret is checked before the user lock, so it is never held up by it.
    const robotRight = await call('GET', '/v2/', { auth: creds(puller) });
    expect(robotRight.status).toBe(200);
    expect(robotRight.ms).toBeLessThan(1300); // well short of the 1.5 s a failed login costs
    await new Promise((r) => setTimeout(r, 1600));
    expect((await call('GET', `${API}/users/current`, { auth: { user, pass } })).status).toBe(200);
  });

  it('POST /robots ignores a caller-supplied secret: the requested one → 401, the returned one → 200', async () => {
    const r0 = await createRobot({ ...projectRobot('ignored', project), secret: 'Requested-secret-1' });
    expect(r0.secret).not.toBe('Requested-secret-1');
    expect((await call('GET', '/v2/', { auth: creds(r0, 'Requested-secret-1') })).status).toBe(401);
    expect((await call('GET', '/v2/', { auth: creds(r0) })).status).toBe(200);
  });

  it('GET of a robot never returns the secret; update_time changes on refresh', async () => {
    const r0 = await createRobot(projectRobot('noget', project));
    const before = json(await call('GET', `${API}/robots/${r0.id}`, { auth: admin() }));
    expect(before).not.toHaveProperty('secret');
    expect(before).toMatchObject({
      name: r0.name,
      level: 'project',
      disable: false,
      editable: true,
      duration: -1,
    });
    await new Promise((r) => setTimeout(r, 20));
    await call('PATCH', `${API}/robots/${r0.id}`, { auth: admin(), body: {} });
    const after = json(await call('GET', `${API}/robots/${r0.id}`, { auth: admin() }));
    expect(after).not.toHaveProperty('secret');
    expect(after.update_time).not.toBe(before.update_time);
    expect(after.creation_time).toBe(before.creation_time);
  });

  it('a duplicate name → 409 "robot account <project id>:<project>+<name> already exists"', async () => {
    const r = await call('POST', `${API}/robots`, {
      auth: admin(),
      body: projectRobot('ci-puller', project),
    });
    expect(r.status).toBe(409);
    expect(json(r)).toEqual({
      errors: [
        { code: 'CONFLICT', message: `robot account ${projectId}:${project}+ci-puller already exists` },
      ],
    });
  });

  it('duration: -1 never; N days → expires_at = creation + N days (epoch seconds); 0 is refused', async () => {
    const r30 = await createRobot(projectRobot('thirty', project, [['repository', 'pull']], 30));
    const created = Date.parse(r30.creation_time) / 1000;
    expect(r30.expires_at - created).toBeGreaterThanOrEqual(30 * 86400 - 1);
    expect(r30.expires_at - created).toBeLessThanOrEqual(30 * 86400 + 1);
    const zero = await call('POST', `${API}/robots`, {
      auth: admin(),
      body: projectRobot('zero', project, [['repository', 'pull']], 0),
    });
    expect(zero.status).toBe(400);
    expect(json<{ errors: { message: string }[] }>(zero).errors[0]!.message).toBe(
      'bad request error duration input: 0, duration must be either -1(Never) or a positive integer',
    );
  });

  it('listing: no Level → system robots only; q=Level=project,ProjectID=N → the project\'s; a fuzzy name matches, an exact name with "+" → []; /projects/{name}/robots → 404', async () => {
    const sys = await call('GET', `${API}/robots`, { auth: admin() });
    expect(sys.status).toBe(200);
    expect(json<{ name: string }[]>(sys).map((r) => r.name)).not.toContain(puller.name);
    const q = (s: string) => `${API}/robots?q=${encodeURIComponent(s)}&page_size=100`;
    const mine = json<{ name: string }[]>(
      await call('GET', q(`Level=project,ProjectID=${projectId}`), { auth: admin() }),
    );
    expect(mine.map((r) => r.name)).toContain(puller.name);
    const fuzzy = json<{ name: string }[]>(
      await call('GET', q(`Level=project,ProjectID=${projectId},name=~ci-pull`), { auth: admin() }),
    );
    expect(fuzzy.map((r) => r.name)).toEqual([puller.name]);
    const exact = await call('GET', q(`Level=project,ProjectID=${projectId},name=${project}+ci-puller`), {
      auth: admin(),
    });
    expect(exact.status).toBe(200);
    expect(JSON.parse(exact.text)).toEqual([]);
    expect((await call('GET', `${API}/projects/${project}/robots`, { auth: admin() })).status).toBe(404);
    const noProject = await call('GET', q('Level=project'), { auth: admin() });
    expect(noProject.status).toBe(400);
  });

  it('robots cannot refresh robots: robot:update is not grantable (400); a robot\'s PATCH of itself or another, and its PUT (disable), → 403 FORBIDDEN "forbidden" (Harbor\'s RequireProjectAccess); users/current → 412; delete + recreate works (name reusable, id changes)', async () => {
    const refused = await call('POST', `${API}/robots`, {
      auth: admin(),
      body: projectRobot('manager-bad', project, [['robot', 'update']]),
    });
    expect(refused.status).toBe(400);
    expect(json(refused)).toEqual({
      errors: [{ code: 'BAD_REQUEST', message: 'bad request permission: robot:update' }],
    });
    const manager = await createRobot(
      projectRobot('manager', project, [
        ['robot', 'create'],
        ['robot', 'delete'],
        ['robot', 'list'],
        ['robot', 'read'],
        ['repository', 'pull'],
      ]),
    );
    // errors.ForbiddenError(nil): the code and Harbor's fixed message, nothing about who or what.
    const forbidden = { errors: [{ code: 'FORBIDDEN', message: 'forbidden' }] };
    const self = await call('PATCH', `${API}/robots/${manager.id}`, { auth: creds(manager), body: {} });
    expect(self.status).toBe(403);
    expect(self.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(self.text).toBe(`${JSON.stringify(forbidden)}\n`);
    const target = await createRobot(projectRobot('managed', project), creds(manager));
    const other = await call('PATCH', `${API}/robots/${target.id}`, { auth: creds(manager), body: {} });
    expect(other.status).toBe(403);
    expect(json(other)).toEqual(forbidden);
    const full = json(await call('GET', `${API}/robots/${target.id}`, { auth: creds(manager) }));
    const disable = await call('PUT', `${API}/robots/${target.id}`, {
      auth: creds(manager),
      body: { ...full, disable: true },
    });
    expect(disable.status).toBe(403);
    expect(json(disable)).toEqual(forbidden);
    const current = await call('GET', `${API}/users/current`, { auth: creds(manager) });
    expect(current.status).toBe(412);
    expect(json(current)).toEqual({
      errors: [
        { code: 'PRECONDITION', message: 'get current user not available for security context: robot' },
      ],
    });
    // The target is still enabled with its own secret: nothing the refused calls asked for happened.
    expect((await token(creds(target))).status).toBe(200);
    expect((await call('DELETE', `${API}/robots/${target.id}`, { auth: creds(manager) })).status).toBe(200);
    const again = await createRobot(projectRobot('managed', project), creds(manager));
    expect(again.name).toBe(target.name);
    expect(again.id).not.toBe(target.id);
  });

  it('names: a system robot is robot$<name>, a project robot robot$<project>+<name>', async () => {
    const sys = await createRobot({
      name: `sys-${sfx}`,
      level: 'system',
      duration: -1,
      permissions: [{ kind: 'system', namespace: '/', access: [{ resource: 'project', action: 'list' }] }],
    });
    expect(sys.name).toBe(`robot$sys-${sfx}`);
    expect(puller.name).toBe(`robot$${project}+ci-puller`);
    await call('DELETE', `${API}/robots/${sys.id}`, { auth: admin() });
  });

  it("names with another robot_name_prefix (ROBOT_NAME_PREFIX, here 'bot-'): robots are named and log in with it; a robot$ name is then just an unknown user; the robot's refresh is still 403", async () => {
    const other = await new OwnHarbor('bot-').start();
    try {
      const a = other.admin();
      const made = await other.ok('POST', `${API}/projects`, {
        project_name: project,
        metadata: { public: 'false' },
      });
      const pid = String(made.headers.location).split('/').pop() ?? '';
      const r = json<CreatedRobot>(
        await other.ok(
          'POST',
          `${API}/robots`,
          projectRobot('ci', project, [
            ['robot', 'list'],
            ['repository', 'pull'],
          ]),
          a,
        ),
      );
      expect(r.name).toBe(`bot-${project}+ci`);
      const listed = json<{ name: string }[]>(
        await other.ok(
          'GET',
          `${API}/robots?q=${encodeURIComponent(`Level=project,ProjectID=${pid}`)}`,
          undefined,
        ),
      );
      expect(listed.map((x) => x.name)).toEqual([`bot-${project}+ci`]);
      await adminApiOf(other, '/penalty', { ms: 0 });
      const as = (user: string) => ({ user, pass: r.secret });
      expect((await other.call('GET', `${API}/users/current`, { auth: as(r.name) })).status).toBe(412);
      expect(
        (await other.call('GET', `${API}/users/current`, { auth: as(`robot$${project}+ci`) })).status,
      ).toBe(401);
      const refresh = await other.call('PATCH', `${API}/robots/${r.id}`, { auth: as(r.name), body: {} });
      expect(refresh.status).toBe(403);
      expect(json(refresh)).toEqual({ errors: [{ code: 'FORBIDDEN', message: 'forbidden' }] });
      const t = json<{ token: string }>(
        await other.call(
          'GET',
          `/service/token?service=harbor-registry&scope=repository:${project}/app:pull`,
          {
            auth: as(r.name),
          },
        ),
      ).token;
      expect(decodeJwt(t).claims['sub']).toBe(r.name);
    } finally {
      await other.stop();
    }
  });

  it('the real registry checks Harbor-format tokens itself: a pull token works at the distribution registry directly, an anonymous one does not', async () => {
    const scope = `repository:${project}/app:pull`;
    const good = json<{ token: string }>(await token(creds(puller), scope)).token;
    const direct = await call('GET', `${harbor.registry}/v2/${project}/app/manifests/v1`, {
      auth: { bearer: good },
      headers: MANIFEST,
    });
    expect(direct.status).toBe(200);
    const anon = json<{ token: string }>(await token(creds(puller, 'Wrong-secret-1'), scope)).token;
    expect(
      (
        await call('GET', `${harbor.registry}/v2/${project}/app/manifests/v1`, {
          auth: { bearer: anon },
          headers: MANIFEST,
        })
      ).status,
    ).toBe(401);
    expect(
      (await call('GET', `${harbor.registry}/v2/${project}/app/manifests/v1`, { headers: MANIFEST })).status,
    ).toBe(401);
  });

  it('CSRF does not get in the way of API clients: writes without a session cookie succeed', async () => {
    const r = await call('POST', `${API}/robots`, { auth: admin(), body: projectRobot('nocsrf', project) });
    expect(r.status).toBe(201);
    expect(r.headers['set-cookie']).toBeUndefined();
  });
});

describe('expiry and refresh', () => {
  it('expires_at = creation + duration; a refresh does not extend it; PUT with a new duration recomputes it from the creation time', async () => {
    const r0 = await createRobot(projectRobot('expiry', project, [['repository', 'pull']], 10));
    const get = async () => json(await call('GET', `${API}/robots/${r0.id}`, { auth: admin() }));
    await call('PATCH', `${API}/robots/${r0.id}`, { auth: admin(), body: {} });
    expect((await get()).expires_at).toBe(r0.expires_at);
    const full = await get();
    expect(
      (await call('PUT', `${API}/robots/${r0.id}`, { auth: admin(), body: { ...full, duration: 40 } }))
        .status,
    ).toBe(200);
    const created = Math.floor(Date.parse(r0.creation_time) / 1000);
    expect(Math.abs(((await get()).expires_at as number) - (created + 40 * 86400))).toBeLessThanOrEqual(1);
    expect(
      (await call('PUT', `${API}/robots/${r0.id}`, { auth: admin(), body: { ...full, duration: -1 } }))
        .status,
    ).toBe(200);
    expect((await get()).expires_at).toBe(-1);
  });

  it('an expired robot gets 401 with the right secret (the clock moved 2 days past a 1-day robot)', async () => {
    const r0 = await createRobot(projectRobot('expired', project, [['repository', 'pull']], 1));
    expect((await call('GET', '/v2/', { auth: creds(r0) })).status).toBe(200);
    await adminApi('/clock', { skewSeconds: 2 * 86400 });
    try {
      expect((await call('GET', '/v2/', { auth: creds(r0) })).status).toBe(401);
      expect((await token(creds(r0))).status).toBe(401);
    } finally {
      await adminApi('/clock', { skewSeconds: 0 });
    }
    expect((await call('GET', '/v2/', { auth: creds(r0) })).status).toBe(200);
  });
});

describe("Harbor's own API definition: the swagger-generated Python client (PyPI harbor-api-client)", () => {
  it('creates a project and a robot, refreshes, disables, lists and deletes it, every answer matching the generated models key for key', () => {
    const root = join(import.meta.dirname, '../..');
    // Installs the client into the stack cache's venv when missing; fails (saying why) when it cannot.
    const r = spawnSync('bash', [join(root, 'test/stack/harbor/client-check.sh')], {
      encoding: 'utf8',
      env: { ...process.env, HARBOR_SUFFIX: sfx },
    });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    const steps = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { step: string; ok: boolean });
    expect(steps.map((s) => s.step)).toEqual([
      'users/current',
      'create project',
      'get project',
      'create robot',
      'refresh secret',
      'get robot',
      'disable robot',
      'list robots',
      'delete robot',
      'robot gone',
    ]);
    expect(steps.every((s) => s.ok)).toBe(true);
  });
});
