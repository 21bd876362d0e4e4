/**
 * The registry's refusals, through the CLI, for each issuer: the issuer's own least-privileged identity
 * (docs/issuers/*.md) rotates, and the same identity with one permission taken away is refused with a
 * message — the text an operator reads at the end of the run — that names the object, the identity and
 * the missing permission; and nothing was issued or written: counted at the registry, in the store, and in
 * the namespaces. Also wrong passwords, objects that do not exist, ACR's replication lag (the run waits,
 * bounded by `verifyTimeoutSeconds`, and rolls out nothing unverified), and 429/503 from the registry's API.
 * Every run is at debug log level; at the end, nothing secret is in anything they printed, their argv,
 * their Events or their pushed metrics.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acr, acrAdmin, replicationDelay } from '../helpers/acr.ts';
import { createToken, deleteToken, gitea } from '../helpers/gitea.ts';
import {
  call,
  createMember,
  harbor,
  json,
  OwnHarbor,
  projectRobot,
  type CreatedRobot,
} from '../helpers/harbor.ts';
import { IssuerLab, type LabTarget } from '../helpers/issuer-lab.ts';
import { LeakCanary } from '../helpers/leak-canary.ts';
import { baoOk } from '../helpers/openbao.ts';
import type { CliResult } from '../helpers/rotator.ts';
import { env, snapshotNamespaces, stack, suffix } from '../helpers/stack.ts';
import { FaultProxy } from '../reliability/fault-proxy.ts';

const lab = new IssuerLab();
const canary = new LeakCanary();
const job = `regcred-${lab.prefix}`;
const T = {
  giteaLeast: lab.target('gitea', 'g-least'),
  giteaReadUser: lab.target('gitea', 'g-read-user'),
  giteaAdminWrong: lab.target('gitea', 'g-admin-wrong'),
  giteaNoUser: lab.target('gitea', 'g-no-user'),
  giteaThrottled: lab.target('gitea', 'g-throttled'),
  giteaDown: lab.target('gitea', 'g-down'),
  harborLeast: lab.target('harbor', 'h-least'),
  harborDeveloper: lab.target('harbor', 'h-developer'),
  harborRobot: lab.target('harbor', 'h-robot'),
  harborNoProject: lab.target('harbor', 'h-no-project'),
  harborThrottled: lab.target('harbor', 'h-throttled'),
  harborDown: lab.target('harbor', 'h-down'),
  ownUser: lab.target('harbor', 'o-user'),
  ownRobotRefresh: lab.target('harbor', 'o-bot-refresh'),
  ownRobotCreate: lab.target('harbor', 'o-bot-create'),
  acrLeast: lab.target('acr', 'a-least'),
  acrNoRole: lab.target('acr', 'a-no-role'),
  acrReadOnly: lab.target('acr', 'a-read-only'),
  acrNoWrite: lab.target('acr', 'a-no-write'),
  acrNoToken: lab.target('acr', 'a-no-token'),
  acrLag: lab.target('acr', 'a-lag'),
  acrLagBounded: lab.target('acr', 'a-lag-bounded', { verifyTimeoutSeconds: 7 }),
  acrThrottled: lab.target('acr', 'a-throttled'),
  acrDown: lab.target('acr', 'a-down'),
};
const extra = {
  giteaWrong: `Wrong-${suffix()}-${suffix()}`,
  giteaReadUser: '',
  harborAdmin: harbor.adminPassword,
  harborDeveloper: `Developer-${suffix()}-A1`,
  harborWrong: `Wrong-${suffix()}-A1`,
  ownUser: `Own-${suffix()}-${suffix()}A1`,
  ownRobot: '',
};
const developer = `dev-${lab.prefix}`;
/** A Harbor whose robot_name_prefix is `bot-`: there, a robot's name does not look like one. */
const own = new OwnHarbor('bot-');
const ownUser = `own-${lab.prefix}`;
let ownProjectId = 0;
let ownManager: CreatedRobot;
const readOnly = () => ({
  principalId: acr.objectId('NOROLE'),
  scope: acr.registryId,
  role: 'Container Registry Configuration Reader and Data Access Configuration Reader',
});
let runs = 0;
/** What the operator read for each refusal, printed at the end. */
const shown: string[] = [];
const startedAt = Date.now();

beforeAll(async () => {
  await lab.setup();
  const weak = await createToken(gitea.puller, gitea.pullerPassword, `read-${lab.prefix}`, [
    'read:user',
    'read:package',
  ]);
  extra.giteaReadUser = weak.sha1;
  lab.cleanups.push(() => deleteToken(gitea.puller, weak.id));
  await createMember(lab.harborProject, developer, extra.harborDeveloper, 2);
  await own.start();
  lab.cleanups.push(() => own.stop());
  const created = await own.ok('POST', '/api/v2.0/projects', {
    project_name: lab.harborProject,
    metadata: { public: 'false' },
  });
  ownProjectId = Number(String(created.headers.location).split('/').pop());
  await own.ok('POST', '/api/v2.0/users', {
    username: ownUser,
    email: `${ownUser}@example.com`,
    realname: ownUser,
    password: extra.ownUser,
  });
  await own.ok('POST', `/api/v2.0/projects/${lab.harborProject}/members`, {
    role_id: 1,
    member_user: { username: ownUser },
  });
  // Every robot permission Harbor grants a robot (robot:update it never does), and reading the project.
  ownManager = json<CreatedRobot>(
    await own.ok(
      'POST',
      '/api/v2.0/robots',
      projectRobot('manager', lab.harborProject, [
        ['project', 'read'],
        ['robot', 'create'],
        ['robot', 'list'],
        ['robot', 'read'],
        ['robot', 'delete'],
        ['repository', 'pull'],
      ]),
    ),
  );
  extra.ownRobot = ownManager.secret;
  await baoOk('POST', `secret/data/${lab.prefix}/extra`, { data: extra });
  for (const s of Object.values(extra)) lab.secrets.add(s);
}, 180_000);
afterAll(async () => {
  await acrAdmin('DELETE', 'roles', readOnly()).catch(() => undefined);
  console.log(
    `[integration] issuance refusals: ${runs} CLI runs in ${Math.round((Date.now() - startedAt) / 1000)} s; what the operator read:\n${shown.join('\n')}`,
  );
  await lab.cleanup();
});

/** One run of one target at debug level, its output kept for the leak canary. */
async function rotate(
  t: LabTarget,
  o: {
    over?: Record<string, unknown>;
    url?: string | undefined;
    args?: string[];
    app?: 'ROTATOR' | 'NOROLE';
    namespaces?: string[];
    /** The registry the credential is for, when not the target's usual one. */
    registry?: string;
  } = {},
): Promise<CliResult> {
  runs++;
  const entry = t.entry(o.url, o.over ?? {});
  if (o.registry) entry['registry'] = o.registry;
  if (o.namespaces) entry['namespaces'] = { names: o.namespaces };
  const config = lab.config([entry], {
    lock: `${t.short}-${runs}`,
    extra: { metrics: { pushgateway: env('REGCRED_STACK_PUSHGATEWAY'), job } },
  });
  const r = await lab.run(config, ['--log-level', 'debug', '--rotate-now', '--summary', ...(o.args ?? [])], {
    app: o.app,
    onSpawn: canary.onSpawn,
  });
  canary.record(r);
  // Every version the store holds, superseded ones too: none may show anywhere.
  for (let v = 1; (await t.storedValue(v)) !== undefined; v++);
  // The Pushgateway keeps only the last push of a job: read each one.
  await canary.pushed(job);
  return r;
}

/** The line of the run's closing summary that says why the target's issuance failed. */
function failure(r: CliResult, t: LabTarget): string {
  const lines = r.stdout.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`${t.name} (`));
  const block = lines
    .slice(start + 1)
    .filter((l, i, all) => all.slice(0, i + 1).every((x) => x.startsWith('  ')));
  const line = block.find((l) => l.startsWith('  FAILED ('));
  expect(line, `no FAILED line for ${t.name} in:\n${r.stdout}\n${r.text}`).toBeDefined();
  return line ?? '';
}

interface World {
  census: string;
  version: number;
  namespaces: string;
}
const world = async (t: LabTarget): Promise<World> => ({
  census: JSON.stringify(await t.census()),
  version: await t.version(),
  namespaces: await snapshotNamespaces(t.namespaces),
});

/**
 * A refused run: exit 1, the summary line names everything in `names`, stderr says issuance failed, and the
 * registry, the store and the namespaces are exactly as before.
 */
async function expectRefused(
  t: LabTarget,
  r: CliResult,
  before: World,
  names: (string | RegExp)[],
): Promise<string> {
  expect(r.code, r.text).toBe(1);
  const line = failure(r, t);
  for (const n of names) expect(line).toMatch(typeof n === 'string' ? new RegExp(escape(n)) : n);
  expect(r.text).toMatch(/credential issuance failed/);
  expect(await world(t), `${t.name}: nothing issued or written`).toEqual(before);
  shown.push(line.trim());
  return line;
}
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A complete rotation: a first credential, then `--reissue` with the old one revoked; exactly one left. */
async function expectRotates(t: LabTarget, o: Parameters<typeof rotate>[1] = {}): Promise<void> {
  const first = await rotate(t, o);
  expect(first.code, first.text).toBe(0);
  const second = await rotate(t, { ...o, args: [...(o.args ?? []), '--reissue'] });
  expect(second.code, second.text).toBe(0);
  expect(second.stdout).toMatch(new RegExp(`^ {2}revoked: .* — superseded by `, 'm'));
  const s = await t.stored();
  expect(await t.active()).toEqual([s.data['regcred-credential-id']]);
  expect(await t.storedWorks()).toBe(true);
  expect(await t.divergence()).toEqual([]);
}

/** Longer than any first back-off step of the clients (≤ 1 s): a retry this late followed the header. */
const RETRY_AFTER = 3;

/** The proxy refused `n` requests with a 429/503, and each was sent again no sooner than its Retry-After. */
function expectWaitedOut(p: FaultProxy, n: number): void {
  const refused = p.requests.filter((x) => x.fault === '429' || x.fault === '503');
  expect(refused.map((x) => `${x.fault ?? ''} ${x.method}`)).toHaveLength(n);
  for (const x of refused) {
    const again = p.requests.find((y) => y.at > x.at && y.method === x.method && y.path === x.path);
    expect(again, `${x.method} ${x.path} sent again`).toBeDefined();
    expect((again?.at ?? 0) - x.at, `${x.method} ${x.path} waited`).toBeGreaterThanOrEqual(
      RETRY_AFTER * 1000 - 50,
    );
  }
}

const storeKey = (field: string) => ({ key: `${lab.prefix}/extra#${field}` });
const proxy = async (t: LabTarget, o: ConstructorParameters<typeof FaultProxy>[2]) => {
  const p = new FaultProxy(t.upstream, join(stack.run, 'pki'), o);
  return { p, url: `https://127.0.0.1:${await p.listen()}` };
};

describe.concurrent('Gitea (real server)', () => {
  it('least privilege: a write:user,read:package management token rotates; a read:user one is refused naming write:user', async () => {
    await expectRotates(T.giteaLeast);
    const t = T.giteaReadUser;
    const before = await world(t);
    const r = await rotate(t, {
      over: { login: { username: gitea.puller, password: storeKey('giteaReadUser') } },
    });
    await expectRefused(t, r, before, [
      'FAILED (issue)',
      `gitea ${gitea.url}`,
      `create token "regcred-${t.name}-`,
      `for user "${gitea.puller}" as "${gitea.puller}"`,
      'HTTP 403: the login token lacks the write:user scope',
    ]);
  });

  it('a wrong admin password: 401, naming the server, the user and the login; nothing issued', async () => {
    const t = T.giteaAdminWrong;
    const before = await world(t);
    const r = await rotate(t, {
      over: { login: { username: gitea.admin, password: storeKey('giteaWrong') } },
    });
    await expectRefused(t, r, before, [
      `gitea ${gitea.url}: cannot list the tokens of user "${gitea.puller}" as "${gitea.admin}"`,
      'the login was refused (HTTP 401',
      'check login.username and the password or token it reads',
    ]);
  });

  it('a user that does not exist: 404, naming the user', async () => {
    const t = T.giteaNoUser;
    const before = await world(t);
    const nobody = `nobody-${lab.prefix}`;
    const r = await rotate(t, { over: { user: nobody } });
    await expectRefused(t, r, before, [
      `gitea ${gitea.url}`,
      `no user "${nobody}" at this server (HTTP 404)`,
    ]);
  });

  it('503 and 429 with Retry-After on the list and the mint: each waited out as told, then it rotates', async () => {
    const t = T.giteaThrottled;
    const { p, url } = await proxy(t, { rate: 0, faults: [], retryAfterSeconds: RETRY_AFTER });
    p.failNext('503');
    p.failNext('429', { method: /^POST$/ });
    const r = await rotate(t, { url });
    await p.close();
    expect(r.code, r.text).toBe(0);
    expectWaitedOut(p, 2);
    expect(r.text).toMatch(/gitea request retried/);
    expect(await t.storedWorks()).toBe(true);
  });

  it('503 on every request: fails after retries, naming the server and what it tried; nothing issued', async () => {
    const t = T.giteaDown;
    const before = await world(t);
    const { p, url } = await proxy(t, { rate: 1, faults: ['503'] });
    const r = await rotate(t, { url });
    await p.close();
    await expectRefused(t, r, before, [
      `gitea ${url}: cannot list the tokens of user "${gitea.puller}" as "${gitea.puller}": HTTP 503`,
    ]);
  });
});

describe.concurrent('Harbor (the double)', () => {
  it('least privilege: a project admin rotates; a developer is refused naming robot:create; nothing issued', async () => {
    await expectRotates(T.harborLeast);
    const t = T.harborDeveloper;
    const before = await world(t);
    const r = await rotate(t, {
      over: { login: { username: developer, password: storeKey('harborDeveloper') } },
    });
    await expectRefused(t, r, before, [
      `harbor ${harbor.url}`,
      `user "${developer}" may not act on robot robot$${lab.harborProject}+${t.name}-a: it needs robot:create`,
    ]);
  });

  it('a robot where a user is needed: the config is refused (exit 2) naming the field and why; nothing contacted', async () => {
    const t = T.harborRobot;
    const before = await world(t);
    const robot = `robot$${lab.harborProject}+manager`;
    const r = await rotate(t, { over: { login: { username: robot, password: storeKey('harborWrong') } } });
    expect(r.code, r.text).toBe(2);
    shown.push(r.text.trim());
    expect(r.text).toMatch(
      /targets\[0\]\.issuer\.login\.username: must be a Harbor user, not a robot: Harbor never lets a robot refresh or update robots \(robot:update cannot be granted\)/,
    );
    expect(await world(t)).toEqual(before);
  });

  it('a project that does not exist: 404 for a system admin, naming the project', async () => {
    const t = T.harborNoProject;
    const before = await world(t);
    const project = `nope-${lab.prefix}`;
    const r = await rotate(t, {
      over: { project, login: { username: harbor.adminUser, password: storeKey('harborAdmin') } },
    });
    await expectRefused(t, r, before, [
      `harbor ${harbor.url}: project ${project} does not exist or is not visible to user "${harbor.adminUser}" (HTTP 404`,
    ]);
  });

  it('503 and 429 with Retry-After on the first request and the robot create: each waited out as told, then it rotates', async () => {
    const t = T.harborThrottled;
    const { p, url } = await proxy(t, { rate: 0, faults: [], retryAfterSeconds: RETRY_AFTER });
    p.failNext('503');
    p.failNext('429', { method: /^POST$/ });
    const r = await rotate(t, { url });
    await p.close();
    expect(r.code, r.text).toBe(0);
    expectWaitedOut(p, 2);
    expect(await t.storedWorks()).toBe(true);
  });

  it('503 on every request: fails after retries, naming the request; nothing issued', async () => {
    const t = T.harborDown;
    const before = await world(t);
    const { p, url } = await proxy(t, { rate: 1, faults: ['503'] });
    const r = await rotate(t, { url });
    await p.close();
    await expectRefused(t, r, before, [
      `harbor ${url}: GET /projects/${lab.harborProject} answered HTTP 503`,
      'after retries',
    ]);
  });
});

/** The own Harbor's robots of a target, and whether each is enabled: what a refused run must leave as it was. */
const ownRobots = async (t: LabTarget) =>
  JSON.stringify(
    (await own.robotsOf(ownProjectId))
      .filter((r) => r.name.includes(`+${t.name}-`))
      .map((r) => ({ id: r.id, name: r.name, disable: r.disable })),
  );
/** The own Harbor's API answers since `from` (method, path, status), to see what Harbor was asked. */
const ownRequests = async (from: number) =>
  json<{ method: string; path: string; status: number }[]>(await call('GET', `${own.adminApi}/requests`))
    .slice(from)
    .map((r) => `${r.method} ${r.path} ${r.status}`);
/** A run against the own Harbor as `username`, whose password is the store's `extra#field`. */
const ownRun = (t: LabTarget, username: string, field: keyof typeof extra, args: string[] = []) =>
  rotate(t, {
    url: own.url,
    registry: new URL(own.url).host,
    over: { login: { username, password: storeKey(field) } },
    args,
  });

// One after the other: the refusals read the double's request log, which a concurrent rotation would add to.
describe("Harbor with robot_name_prefix 'bot-' (a double of this file's own)", () => {
  it("a project admin rotates there: the robots are Harbor's bot-… names, found again by them, the old one disabled", async () => {
    const t = T.ownUser;
    const P = lab.harborProject;
    const first = await ownRun(t, ownUser, 'ownUser');
    expect(first.code, first.text).toBe(0);
    const second = await ownRun(t, ownUser, 'ownUser', ['--reissue']);
    expect(second.code, second.text).toBe(0);
    expect(second.stdout).toMatch(
      new RegExp(`^ {2}revoked: robot ${escape(`bot-${P}+${t.name}-a`)} — superseded by `, 'm'),
    );
    expect(
      (JSON.parse(await ownRobots(t)) as { name: string; disable: boolean }[]).map((r) => [
        r.name,
        r.disable,
      ]),
    ).toEqual([
      [`bot-${P}+${t.name}-a`, true],
      [`bot-${P}+${t.name}-b`, false],
    ]);
    const s = (await t.stored()).data;
    expect(s['regcred-credential-id']).toBe(`bot-${P}+${t.name}-b`);
    expect(s['username']).toBe(`bot-${P}+${t.name}-b`);
    const login = { user: s['username'] ?? '', pass: s['password'] ?? '' };
    expect((await own.call('GET', '/v2/', { auth: login })).status).toBe(200);
  });

  it('a robot whose name does not look like one, its robot existing: Harbor refuses the refresh (403), named as robot, identity and robot:update; nothing issued or written', async () => {
    const t = T.ownRobotRefresh;
    expect(ownManager.name).toBe(`bot-${lab.harborProject}+manager`); // past the config's robot$ check
    // The pair's first robot exists, as a user's earlier rotations would have left it.
    const existing = json<CreatedRobot>(
      await own.ok('POST', '/api/v2.0/robots', projectRobot(`${t.name}-a`, lab.harborProject)),
    );
    const before = await world(t);
    const robots = await ownRobots(t);
    const from = json<unknown[]>(await call('GET', `${own.adminApi}/requests`)).length;
    const r = await ownRun(t, ownManager.name, 'ownRobot');
    await expectRefused(t, r, before, [
      `harbor ${own.url}`,
      `robot account "${ownManager.name}" may not manage robot ${existing.name}: it needs robot:update, which Harbor never grants a robot`,
      'configure a Harbor user who is project admin of the project (HTTP 403: forbidden)',
    ]);
    expect(await ownRobots(t), 'no robot created, refreshed or disabled').toBe(robots);
    const asked = await ownRequests(from);
    expect(asked).toContain(`PATCH /api/v2.0/robots/${existing.id} 403`);
    expect(asked).toContain('GET /api/v2.0/users/current 412'); // who was refused, by Harbor's word
    expect(asked.filter((a) => /^(POST|PUT|DELETE) /.test(a))).toEqual([]);
  });

  it('a robot whose name does not look like one, its robot not yet made: refused before creating one (Harbor: no current user for a robot, 412), naming robot:create and robot:update; nothing issued or written', async () => {
    const t = T.ownRobotCreate;
    const before = await world(t);
    const from = json<unknown[]>(await call('GET', `${own.adminApi}/requests`)).length;
    const r = await ownRun(t, ownManager.name, 'ownRobot');
    await expectRefused(t, r, before, [
      `harbor ${own.url}`,
      `robot account "${ownManager.name}" may not manage robot robot$${lab.harborProject}+${t.name}-a: it needs robot:create and then robot:update, which Harbor never grants a robot`,
      '(GET /users/current: HTTP 412: get current user not available for security context: robot)',
    ]);
    expect(await ownRobots(t), 'no robot created').toBe('[]');
    const asked = await ownRequests(from);
    expect(asked.filter((a) => /^(POST|PUT|PATCH|DELETE) /.test(a))).toEqual([]);
  });
});

const acrWhere = (t: LabTarget, app: 'ROTATOR' | 'NOROLE') =>
  `issuer acr-token (registry ${acr.registry}, token ${t.object}) as environment credential (client ${acr.id(app)}`;

describe.concurrent('ACR (the double)', () => {
  it('least privilege: the documented custom role (tokens/read, generateCredentials/action, tokens/write, …) rotates', async () => {
    await expectRotates(T.acrLeast);
  });

  it('a token that does not exist: 404 naming the token', async () => {
    const t = T.acrNoToken;
    const before = await world(t);
    const token = `${t.name}-absent`;
    const r = await rotate(t, { over: { token } });
    await expectRefused(t, r, before, [
      `issuer acr-token (registry ${acr.registry}, token ${token})`,
      'not found (ResourceNotFound',
    ]);
  });

  it('503 with Retry-After on a read, 429 on generateCredentials (a throttled request was never processed): each waited out as told, then it rotates', async () => {
    const t = T.acrThrottled;
    const { p, url } = await proxy(t, { rate: 0, faults: [], retryAfterSeconds: RETRY_AFTER });
    p.failNext('503', { method: /^GET$/ });
    p.failNext('429', { method: /^POST$/, path: /\/generateCredentials\?/ });
    const r = await rotate(t, { url });
    await p.close();
    expect(r.code, r.text).toBe(0);
    expectWaitedOut(p, 2);
    expect(await t.storedWorks()).toBe(true);
  });

  it('503 on every request: fails after retries, naming the registry, the token and the identity; nothing issued', async () => {
    const t = T.acrDown;
    const before = await world(t);
    const { p, url } = await proxy(t, { rate: 1, faults: ['503'] });
    const r = await rotate(t, { url });
    await p.close();
    await expectRefused(t, r, before, [
      acrWhere(t, 'ROTATOR'),
      'listing the token slots: HTTP 503 (no ARM error in the answer)',
    ]);
  });
});

// The double's replication delay belongs to each token: these two, and every other ACR test, run side by side.
describe.concurrent('ACR (the double): replication lag', () => {
  it('replication lag: the new slot is refused for a while; the run waits, then rolls it out', async () => {
    const t = T.acrLag;
    await bothSlots(t);
    await replicationDelay(t.object, 5000);
    const r = await rotate(t, { args: ['--reissue'] });
    expect(r.code, r.text).toBe(0);
    const waits = r.logs.filter((l) => l['msg'] === 'waiting for the registry to accept the new credential');
    expect(waits.length).toBeGreaterThan(0);
    expect(waits[0]).toMatchObject({ outcome: 'rejected', registry: acr.loginServer });
    expect(r.stdout).toMatch(/^ {2}issued: .* — a new credential was asked for \(--reissue\)$/m);
    expect(await t.active()).toEqual([(await t.stored()).data['regcred-credential-id']]);
    expect(await t.divergence()).toEqual([]);
  });

  it('replication lag beyond verifyTimeoutSeconds: the target fails, nothing is rolled out; a later run does', async () => {
    const t = T.acrLagBounded;
    await bothSlots(t);
    const namespaces = await snapshotNamespaces(t.namespaces);
    const census = await t.census();
    await replicationDelay(t.object, 25_000);
    const r = await rotate(t, { args: ['--reissue'] });
    const replicated = Date.now() + 25_000;
    expect(r.code, r.text).toBe(1);
    const line = failure(r, t);
    shown.push(line.trim());
    expect(line).toMatch(
      new RegExp(
        `^ {2}FAILED \\(verify\\): target ${t.name}: registry ${escape(acr.loginServer)} still refuses the credential issued (\\d+) s ago \\(.*\\); it is stored, and is rolled out once the registry accepts it$`,
      ),
    );
    // Bounded by verifyTimeoutSeconds (7), not by a back-off step past it (the steps 2, 4, 6 s would end at 12).
    const waited = Number(/issued (\d+) s ago/.exec(line)?.[1]);
    expect(waited).toBeGreaterThanOrEqual(7);
    expect(waited).toBeLessThanOrEqual(10);
    expect(await snapshotNamespaces(t.namespaces), 'nothing rolled out').toBe(namespaces);
    expect((await t.census()).map((c) => c.id)).toEqual(census.map((c) => c.id)); // nothing revoked
    await new Promise((res) => setTimeout(res, Math.max(0, replicated - Date.now())));
    const later = await rotate(t);
    expect(later.code, later.text).toBe(0);
    expect(await t.active()).toEqual([(await t.stored()).data['regcred-credential-id']]);
    expect(await t.divergence()).toEqual([]);
  });
});

describe('ACR: the custom role with one action taken away (role assignments of the no-role app, one at a time)', () => {
  it('without any role: refused naming tokens/read and the client id; nothing issued', async () => {
    const t = T.acrNoRole;
    const before = await world(t);
    const r = await rotate(t, { app: 'NOROLE' });
    await expectRefused(t, r, before, [
      acrWhere(t, 'NOROLE'),
      "not allowed to perform 'Microsoft.ContainerRegistry/registries/tokens/read'",
      'give the identity a role with that action at the registry',
    ]);
    // `validate --online` finds the same before any run: the issuer's check names the missing action.
    runs++;
    const v = canary.record(
      await lab.run(lab.config([t.entry()], { lock: `${t.short}-validate` }), ['validate', '--online'], {
        app: 'NOROLE',
        onSpawn: canary.onSpawn,
      }),
    );
    expect(v.code, v.stdout).toBe(1);
    expect(v.stdout).toMatch(
      new RegExp(
        `^issuer +${t.name} +FAILED +${escape(acrWhere(t, 'NOROLE'))}.*'Microsoft\\.ContainerRegistry/registries/tokens/read'`,
        'm',
      ),
    );
  });

  it('tokens/read without generateCredentials/action: refused naming generateCredentials/action; nothing issued', async () => {
    const t = T.acrReadOnly;
    const before = await world(t);
    await acrAdmin('POST', 'roles', readOnly());
    try {
      const r = await rotate(t, { app: 'NOROLE' });
      await expectRefused(t, r, before, [
        'FAILED (issue)',
        acrWhere(t, 'NOROLE'),
        "generateCredentials for slot password1: not allowed to perform 'Microsoft.ContainerRegistry/registries/generateCredentials/action'",
      ]);
    } finally {
      await acrAdmin('DELETE', 'roles', readOnly());
    }
  });

  it('without tokens/write: the new slot is rolled out, the old one cannot be removed — refused naming tokens/write; nothing revoked', async () => {
    const t = T.acrNoWrite;
    // The rotator's identity stores and rolls out a second slot in one namespace only (a run limited by -n
    // never revokes); then an identity that may read the token but not write it finishes the rollout.
    expect((await rotate(t)).code).toBe(0);
    const second = await rotate(t, { args: ['--reissue', '-n', t.namespaces[0] ?? ''] });
    expect(second.code, second.text).toBe(0);
    const census = JSON.stringify(await t.census());
    const version = await t.version();
    await acrAdmin('POST', 'roles', readOnly());
    let r: CliResult;
    try {
      r = await rotate(t, { app: 'NOROLE' });
    } finally {
      await acrAdmin('DELETE', 'roles', readOnly());
    }
    expect(r.code, r.text).toBe(1);
    shown.push(failure(r, t).trim());
    expect(failure(r, t)).toMatch(
      new RegExp(
        `FAILED \\(revoke\\): ${escape(acrWhere(t, 'NOROLE'))}.*: removing slot password1: not allowed to perform 'Microsoft\\.ContainerRegistry/registries/tokens/write'`,
      ),
    );
    expect(JSON.stringify(await t.census()), 'nothing revoked').toBe(census);
    expect(await t.version()).toBe(version);
    expect(await t.divergence(), 'the rollout itself completed').toEqual([]);
  });
});

/** Both slots of the token hold a value (a -n run never revokes): the next issue regenerates a used slot. */
async function bothSlots(t: LabTarget): Promise<void> {
  expect((await rotate(t)).code).toBe(0);
  const r = await rotate(t, { args: ['--reissue', '-n', t.namespaces[0] ?? ''] });
  expect(r.code, r.text).toBe(0);
  expect(await t.active()).toHaveLength(2);
}

describe('the leak canary over every run above', () => {
  it('no token, password, robot secret, slot password, management token or store token in stdout, stderr, argv, Events or metrics', async () => {
    const events = await canary.events(['default', ...lab.targets.flatMap((t) => t.namespaces)]);
    const metrics = await canary.pushed(job);
    expect(metrics).toMatch(/regcred_rotator_runs_total\{/);
    expect(events).toBeGreaterThan(0);
    expect(canary.argvRead).toBe(runs);
    const usernames = [gitea.puller, gitea.admin, harbor.adminUser, developer, lab.harborUser, ownUser];
    usernames.push(ownManager.name);
    for (const t of lab.targets) usernames.push(t.object, ...t.robots);
    canary.expectClean(lab.secrets, usernames);
  });
});
