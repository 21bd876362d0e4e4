/**
 * The Harbor robot issuer against the stack's Harbor double, with a least-privilege identity (a project
 * admin user, not a system admin). What counts is the state of the world afterwards, judged where a
 * kubelet would judge it — at `/v2/` and by pulling — and the robots Harbor lists: A and B in turn, the
 * one in use untouched by an issue, a revoked one refused, repeats that never make a third robot, and
 * refusals that say what is wrong without leaking anything.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/base/logger.ts';
import { Sensitive } from '../../src/base/sensitive.ts';
import { RotatorError } from '../../src/errors.ts';
import { HarborRobotIssuer } from '../../src/issuers/harbor/index.ts';
import { harborRobotIssuerSchema } from '../../src/issuers/harbor/schema.ts';
import type { IssuedCredential } from '../../src/issuers/types.ts';
import {
  adminApi,
  lastRequest,
  requestsAfter,
  call,
  createMember,
  createProject,
  createRobot,
  harbor,
  projectRobot,
  pull,
  robotsOf,
  skopeo,
} from '../helpers/harbor.ts';
import { freePort, suffix } from '../helpers/stack.ts';

const sfx = suffix();
const project = `iss-${sfx}`;
const manager = { user: `rotator-${sfx}`, pass: `Rotator-${sfx}-Pw1` };
const dir = mkdtempSync(join(tmpdir(), 'issuer-harbor-'));
let projectId = 0;
const logLines: string[] = [];
const secrets: string[] = [manager.pass];
const logger = createLogger({
  format: 'json',
  level: 'debug',
  destination: new Writable({
    write(chunk: Buffer, _enc, cb) {
      logLines.push(chunk.toString('utf8'));
      cb();
    },
  }),
});

function passwordFile(name: string, value: string): string {
  const f = join(dir, name);
  writeFileSync(f, `${value}\n`, { mode: 0o600 });
  return f;
}

function issuer(
  o: {
    robot?: string;
    user?: string;
    pass?: string;
    project?: string;
    url?: string;
    days?: number;
    now?: () => number;
    timeout?: number;
  } = {},
) {
  const config = harborRobotIssuerSchema.parse({
    type: 'harbor-robot',
    url: o.url ?? harbor.url,
    project: o.project ?? project,
    robot: o.robot ?? 'pull',
    ...(o.days === undefined ? {} : { durationDays: o.days }),
    login: {
      username: o.user ?? manager.user,
      password: { file: passwordFile(`pw-${o.user ?? manager.user}`, o.pass ?? manager.pass) },
    },
    caFile: harbor.ca,
    requestTimeoutSeconds: o.timeout ?? 5,
  });
  return new HarborRobotIssuer(config, { logger, baseDir: dir, now: o.now });
}

const remember = (c: IssuedCredential): IssuedCredential => {
  secrets.push(c.password.reveal());
  return c;
};
const v2 = async (c: IssuedCredential) =>
  (await call('GET', '/v2/', { auth: { user: c.username, pass: c.password.reveal() } })).status;
const pulls = async (c: IssuedCredential) =>
  (await pull(`${project}/app`, 'v1', { user: c.username, pass: c.password.reveal() })).status;

async function refusal(p: Promise<unknown>): Promise<RotatorError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(RotatorError);
  return e as RotatorError;
}

beforeAll(async () => {
  await adminApi('/penalty', { ms: 1500 });
  projectId = await createProject(project);
  const pushed = skopeo(['copy', `docker://${harbor.image}`, `docker://${harbor.host}/${project}/app:v1`], {
    user: harbor.adminUser,
    pass: harbor.adminPassword,
  });
  expect(pushed.code, pushed.out).toBe(0);
  await createMember(project, manager.user, manager.pass, 1);
});
afterAll(async () => {
  await adminApi('/clock', { skewSeconds: 0 });
  await adminApi('/faults', {});
  // Nothing secret reached a log line, whatever the tests did.
  const all = logLines.join('');
  for (const s of secrets) expect(all).not.toContain(s);
});

describe('A and B in turn', () => {
  const i = () => issuer();

  it('check(): the project admin user, the project, the pair', async () => {
    const line = await i().check();
    expect(line).toContain(`user ${manager.user} (project admin)`);
    expect(line).toContain(`robot$${project}+pull-a, robot$${project}+pull-b: 0 exist`);
  });

  it('issue A, then B; A keeps working until it is revoked, then /v2/ refuses it; B works throughout', async () => {
    const a = remember(await i().issue(undefined));
    expect(a.username).toBe(`robot$${project}+pull-a`);
    expect(a.ref).toMatchObject({ id: a.username, label: `robot ${a.username}` });
    expect(a.ref.expiresAt!.getTime() - Date.now()).toBeGreaterThan(119 * 86_400_000);
    expect(await pulls(a)).toBe(200);
    const b = remember(await i().issue(a.ref));
    expect(b.username).toBe(`robot$${project}+pull-b`);
    expect(await pulls(b)).toBe(200);
    expect(await v2(a)).toBe(200); // the one in use is untouched by an issue
    expect((await i().list()).map((c) => [c.id, c.state])).toEqual([
      [a.username, 'active'],
      [b.username, 'active'],
    ]);
    await i().revoke(a.ref);
    expect(await v2(a)).toBe(401);
    expect(await pulls(a)).toBe(401);
    expect(await v2(b)).toBe(200);
    expect((await i().list()).map((c) => c.state)).toEqual(['disabled', 'active']);
    await i().revoke(a.ref); // already disabled: done

    // The next rotation comes back to A: refreshed while disabled, then enabled; B is left alone.
    const a2 = remember(await i().issue(b.ref));
    expect(a2.username).toBe(a.username);
    expect(await pulls(a2)).toBe(200);
    expect(await v2(a)).toBe(401); // A's previous secret stays dead
    expect(await v2(b)).toBe(200);
    expect((await robotsOf(projectId)).map((r) => r.name).sort()).toEqual([a.username, b.username]);
  });

  it('crash-like repeats: issuing twice without storing refreshes the same robot again (the first secret dies), never a third robot', async () => {
    const first = remember(
      await i().issue({ id: `robot$${project}+pull-a`, label: 'A', issuedAt: new Date() }),
    );
    const second = remember(
      await i().issue({ id: `robot$${project}+pull-a`, label: 'A', issuedAt: new Date() }),
    );
    expect(first.username).toBe(`robot$${project}+pull-b`);
    expect(second.username).toBe(first.username);
    expect(await v2(first)).toBe(401);
    expect(await v2(second)).toBe(200);
    expect(await robotsOf(projectId)).toHaveLength(2);
  });

  it('two runs issuing at once: one creates, the other meets the 409 and refreshes; one robot, the later secret works', async () => {
    const seen = await lastRequest();
    // Both read the robot list before either write lands: the writes wait 400 ms at the double, so the
    // race is the same on a busy machine (unordered, the second run sometimes just found the robot).
    await adminApi('/faults', { latencyMs: 400, latencyMethods: ['POST'], user: manager.user });
    const [x, y] = await Promise.all([
      issuer({ robot: 'race' }).issue(undefined),
      issuer({ robot: 'race' }).issue(undefined),
    ]).finally(() => adminApi('/faults', {}));
    const posts = (await requestsAfter(seen)).filter(
      (r) => r.method === 'POST' && r.path === '/api/v2.0/robots',
    );
    expect(posts.map((r) => r.status).sort()).toEqual([201, 409]);
    remember(x);
    remember(y);
    expect(x.username).toBe(y.username);
    expect((await robotsOf(projectId)).filter((r) => r.name.includes('+race-'))).toHaveLength(1);
    expect([await v2(x), await v2(y)].sort()).toEqual([200, 401]);
  });

  it('revoking a robot that was deleted meanwhile is done; a ref that is not ours is refused', async () => {
    const c = remember(await issuer({ robot: 'gone' }).issue(undefined));
    const r = (await robotsOf(projectId)).find((x) => x.name === c.username)!;
    expect(
      (
        await call('DELETE', `/api/v2.0/robots/${r.id}`, {
          auth: { user: harbor.adminUser, pass: harbor.adminPassword },
        })
      ).status,
    ).toBe(200);
    await issuer({ robot: 'gone' }).revoke(c.ref);
    const e = await refusal(
      i().revoke({ id: `robot$${project}+other`, label: 'robot other', issuedAt: new Date() }),
    );
    expect(e.code).toBe('OWNERSHIP');
  });

  it('a refresh extends the duration when the secret would expire too soon (expiry counts from creation)', async () => {
    const c = remember(await issuer({ robot: 'longlived', days: 30 }).issue(undefined));
    const created = (await robotsOf(projectId)).find((r) => r.name === c.username)!;
    expect(created.expires_at * 1000 - Date.now()).toBeLessThan(31 * 86_400_000);
    const skew = 25 * 86400;
    await adminApi('/clock', { skewSeconds: skew });
    try {
      const again = remember(
        await issuer({ robot: 'longlived', days: 30, now: () => Date.now() + skew * 1000 }).issue(c.ref),
      );
      expect(again.username).toBe(c.username.replace(/-a$/, '-b'));
      const third = remember(
        await issuer({ robot: 'longlived', days: 30, now: () => Date.now() + skew * 1000 }).issue(again.ref),
      );
      expect(third.username).toBe(c.username);
      const after = (await robotsOf(projectId)).find((r) => r.name === c.username)!;
      expect(after.expires_at * 1000 - (Date.now() + skew * 1000)).toBeGreaterThanOrEqual(
        30 * 86_400_000 - 60_000,
      );
      expect(await v2(third)).toBe(200);
    } finally {
      await adminApi('/clock', { skewSeconds: 0 });
    }
  });
});

describe('refusals name the Harbor URL, the object, the identity and the missing permission; never a secret', () => {
  const noSecret = (e: RotatorError) => {
    const text = `${e.message} ${JSON.stringify(e.details)}`;
    for (const s of secrets) expect(text).not.toContain(s);
  };

  it('a robot as the managing identity: the config refuses it, and at the API users/current and the refresh say so plainly', async () => {
    const parsed = harborRobotIssuerSchema.safeParse({
      type: 'harbor-robot',
      url: harbor.url,
      project,
      robot: 'pull',
      login: { username: `robot$${project}+manager`, password: { file: 'x' } },
    });
    expect(parsed.success).toBe(false);
    expect(JSON.stringify(parsed.error?.issues)).toContain('must be a Harbor user, not a robot');

    const robotManager = await createRobot(
      projectRobot(`mgr-${sfx}`, project, [
        ['project', 'read'],
        ['robot', 'create'],
        ['robot', 'list'],
        ['robot', 'read'],
        ['robot', 'delete'],
      ]),
    );
    secrets.push(robotManager.secret);
    const config = {
      ...harborRobotIssuerSchema.parse({
        type: 'harbor-robot',
        url: harbor.url,
        project,
        robot: 'pull',
        login: { username: 'placeholder', password: { file: passwordFile('robot-pw', robotManager.secret) } },
        caFile: harbor.ca,
      }),
    };
    config.login.username = robotManager.name; // past the schema, as a hand-built config could be
    const viaRobot = new HarborRobotIssuer(config, { logger, baseDir: dir });
    const e1 = await refusal(viaRobot.check());
    expect(e1.code).toBe('ISSUER_PERMISSION');
    expect(e1.message).toContain(`harbor ${harbor.url}`);
    expect(e1.message).toContain(
      `robot account "${robotManager.name}" may not manage the robots of project ${project}`,
    );
    expect(e1.message).toContain('HTTP 412'); // Harbor's own word that this login is a robot
    const e2 = await refusal(viaRobot.issue(undefined)); // pull-a exists: the robot may list it, not refresh it
    expect(e2.code).toBe('ISSUER_PERMISSION');
    expect(e2.message).toContain(
      `robot account "${robotManager.name}" may not manage robot robot$${project}+pull-a: it needs robot:update, which Harbor never grants a robot`,
    );
    expect(e2.message).toContain('(HTTP 403: forbidden)');
    noSecret(e1);
    noSecret(e2);
  });

  it('a developer (not project admin): check() and issue() are refused with the permission named', async () => {
    const dev = { user: `dev-${sfx}`, pass: `Developer-${sfx}-1` };
    secrets.push(dev.pass);
    await createMember(project, dev.user, dev.pass, 2);
    const e1 = await refusal(issuer({ user: dev.user, pass: dev.pass }).check());
    expect(e1.code).toBe('ISSUER_PERMISSION');
    expect(e1.message).toContain(`user "${dev.user}" is not a project admin of ${project}`);
    const e2 = await refusal(issuer({ user: dev.user, pass: dev.pass, robot: 'devrobot' }).issue(undefined));
    expect(e2.code).toBe('ISSUER_PERMISSION');
    expect(e2.message).toContain(
      `user "${dev.user}" may not act on robot robot$${project}+devrobot-a: it needs robot:create`,
    );
    expect((await robotsOf(projectId)).some((r) => r.name.includes('devrobot'))).toBe(false);
    noSecret(e1);
    noSecret(e2);
  });

  it("a wrong password: ISSUER_AUTH after Harbor's 1.5 s penalty, not retried; nothing issued", async () => {
    const before = (await robotsOf(projectId)).length;
    const seen = await lastRequest();
    const started = performance.now();
    const e = await refusal(issuer({ pass: 'Wrong-password-1', robot: 'wrongpw' }).issue(undefined));
    const ms = performance.now() - started;
    const refused = (await requestsAfter(seen)).filter((r) => r.status === 401);
    expect(e.code).toBe('ISSUER_AUTH');
    expect(e.retryable).toBe(false);
    expect(e.message).toContain(`harbor ${harbor.url}: user "${manager.user}" was refused`);
    expect(ms).toBeGreaterThanOrEqual(1450);
    expect(refused).toHaveLength(1); // a 401 is not retried into more penalties
    expect((await robotsOf(projectId)).length).toBe(before);
    expect(e.message).not.toContain('Wrong-password-1');
    noSecret(e);
    await new Promise((r) => setTimeout(r, 1600)); // let the lock on the name lapse for the next tests
  });

  it('an unknown project: ISSUER_NOT_FOUND for a system admin; a project admin of another project gets ISSUER_PERMISSION (Harbor answers 403)', async () => {
    const e = await refusal(
      issuer({ project: `nope-${sfx}`, user: harbor.adminUser, pass: harbor.adminPassword }).issue(undefined),
    );
    expect(e.code).toBe('ISSUER_NOT_FOUND');
    expect(e.message).toContain(`project nope-${sfx} does not exist`);
    const e2 = await refusal(issuer({ project: `nope-${sfx}` }).check());
    expect(e2.code).toBe('ISSUER_PERMISSION');
    expect(e2.message).toContain(`project nope-${sfx}`);
  });

  it('429 with Retry-After (from a proxy in front of Harbor) is waited out and retried: the issue succeeds', async () => {
    await adminApi('/faults', { status: 429, times: 2, retryAfterSeconds: 1, user: manager.user });
    try {
      const started = performance.now();
      const c = remember(await issuer({ robot: 'throttled' }).issue(undefined));
      expect(performance.now() - started).toBeGreaterThanOrEqual(1900);
      expect(await v2(c)).toBe(200);
    } finally {
      await adminApi('/faults', {});
    }
  });

  it('5xx that does not pass: ISSUER_UNAVAILABLE, retryable, naming the request; nothing issued', async () => {
    await adminApi('/faults', { status: 503, times: 100, retryAfterSeconds: 0, user: manager.user });
    try {
      const e = await refusal(issuer({ robot: 'unavailable' }).issue(undefined));
      expect(e.code).toBe('ISSUER_UNAVAILABLE');
      expect(e.retryable).toBe(true);
      expect(e.message).toContain(
        `harbor ${harbor.url}: GET /projects/${project} answered HTTP 503 after retries`,
      );
    } finally {
      await adminApi('/faults', {});
    }
    expect((await robotsOf(projectId)).some((r) => r.name.includes('+unavailable-'))).toBe(false);
  });

  it('no answer within requestTimeoutSeconds: ISSUER_UNREACHABLE (timeout), retryable', async () => {
    await adminApi('/faults', { latencyMs: 1500, user: manager.user });
    try {
      const e = await refusal(issuer({ robot: 'slow', timeout: 0.4 }).check());
      expect(e.code).toBe('ISSUER_UNREACHABLE');
      expect(e.retryable).toBe(true);
      expect(e.message).toContain('within 400 ms');
    } finally {
      await adminApi('/faults', {});
    }
  });

  it('unreachable: ISSUER_UNREACHABLE, retryable, naming the URL', async () => {
    const url = `https://127.0.0.1:${await freePort()}`;
    const e = await refusal(issuer({ url }).check());
    expect(e.code).toBe('ISSUER_UNREACHABLE');
    expect(e.retryable).toBe(true);
    expect(e.message).toContain(`harbor ${url}`);
  });

  it('logs: constant messages with the robot in fields, no secret (checked for every secret after all tests)', () => {
    const msgs = logLines.map((l) => JSON.parse(l) as { msg: string; robot?: string });
    expect(msgs.some((m) => m.msg === 'harbor robot created' && m.robot === `robot$${project}+pull-a`)).toBe(
      true,
    );
    expect(msgs.some((m) => m.msg === 'harbor robot secret refreshed')).toBe(true);
    expect(msgs.some((m) => m.msg === 'harbor robot disabled')).toBe(true);
    expect(new Sensitive('x').toString()).toBe('[redacted]');
  });
});
