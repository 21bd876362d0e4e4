/**
 * The stack's Harbor double, as tests use it: raw HTTPS calls (no client in between, so a test sees
 * Harbor's own status, headers and bytes), the admin user, the double's admin API and small builders for
 * projects and robots. Registry pulls and pushes go through skopeo, a real client.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request, type RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { NODE } from './rotator.ts';
import { env, stack } from './stack.ts';

const ROOT = resolve(import.meta.dirname, '../..');

export const harbor = {
  get url() {
    return env('REGCRED_STACK_HARBOR_URL');
  },
  get host() {
    return new URL(env('REGCRED_STACK_HARBOR_URL')).host;
  },
  get adminUser() {
    return env('REGCRED_STACK_HARBOR_ADMIN_USER');
  },
  get adminPassword() {
    return env('REGCRED_STACK_HARBOR_ADMIN_PASSWORD');
  },
  get project() {
    return env('REGCRED_STACK_HARBOR_PROJECT');
  },
  get image() {
    return env('REGCRED_STACK_HARBOR_IMAGE');
  },
  get adminApi() {
    return env('REGCRED_STACK_HARBOR_ADMIN_API');
  },
  /** The distribution registry behind the double (plain HTTP, loopback). */
  get registry() {
    return env('REGCRED_STACK_HARBOR_REGISTRY');
  },
  get tokenCert() {
    return env('REGCRED_STACK_HARBOR_TOKEN_CERT');
  },
  get ca() {
    return env('REGCRED_STACK_CA');
  },
};

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  ms: number;
}
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the shape it expects
export const json = <T = Record<string, unknown>>(r: Reply): T => JSON.parse(r.text) as T;

export type Auth = { user: string; pass: string } | { bearer: string } | undefined;
export const admin = (): Auth => ({ user: harbor.adminUser, pass: harbor.adminPassword });

/** One raw request to the double (path relative to its URL, or an absolute URL). */
export function call(
  method: string,
  path: string,
  opts: { auth?: Auth; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const url = new URL(path, harbor.url);
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.auth && 'bearer' in opts.auth) headers.authorization = `Bearer ${opts.auth.bearer}`;
  else if (opts.auth)
    headers.authorization = `Basic ${Buffer.from(`${opts.auth.user}:${opts.auth.pass}`).toString('base64')}`;
  const body =
    opts.body === undefined
      ? undefined
      : typeof opts.body === 'string'
        ? opts.body
        : JSON.stringify(opts.body);
  if (body !== undefined) headers['content-type'] ??= 'application/json';
  const started = performance.now();
  const o: RequestOptions = { method, headers };
  const lib = url.protocol === 'https:' ? request : httpRequest;
  return new Promise((resolve, reject) => {
    const req = lib(url, o, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, ms: performance.now() - started }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The double's admin API (knobs: penalty, clock; the auth log). */
export async function adminApi(path: string, body?: unknown): Promise<unknown> {
  const r = await call(body === undefined ? 'GET' : 'POST', `${harbor.adminApi}${path}`, { body });
  if (r.status !== 200) throw new Error(`admin API ${path}: HTTP ${r.status} ${r.text}`);
  return JSON.parse(r.text) as unknown;
}

/** One API request the double answered (its /_admin/requests; numbered, the oldest dropped past 2,000). */
export interface AnsweredRequest {
  seq: number;
  method: string;
  path: string;
  status: number;
}

/** The number of the last request the double answered (0 before any). */
export async function lastRequest(): Promise<number> {
  return ((await adminApi('/requests')) as AnsweredRequest[]).at(-1)?.seq ?? 0;
}

/** The requests the double answered after number `seq`. */
export async function requestsAfter(seq: number): Promise<AnsweredRequest[]> {
  return ((await adminApi('/requests')) as AnsweredRequest[]).filter((r) => r.seq > seq);
}

export async function createProject(name: string, isPublic = false): Promise<number> {
  const r = await call('POST', '/api/v2.0/projects', {
    auth: admin(),
    body: { project_name: name, metadata: { public: String(isPublic) } },
  });
  if (r.status !== 201) throw new Error(`create project ${name}: HTTP ${r.status} ${r.text}`);
  return Number(String(r.headers.location).split('/').pop());
}

export interface CreatedRobot {
  id: number;
  name: string;
  secret: string;
  expires_at: number;
  creation_time: string;
}

export function projectRobot(
  name: string,
  project: string,
  access: [string, string][] = [['repository', 'pull']],
  duration = -1,
): Record<string, unknown> {
  return {
    name,
    level: 'project',
    duration,
    disable: false,
    permissions: [
      {
        kind: 'project',
        namespace: project,
        access: access.map(([resource, action]) => ({ resource, action })),
      },
    ],
  };
}

export async function createRobot(
  body: Record<string, unknown>,
  auth: Auth = admin(),
): Promise<CreatedRobot> {
  const r = await call('POST', '/api/v2.0/robots', { auth, body });
  if (r.status !== 201) throw new Error(`create robot: HTTP ${r.status} ${r.text}`);
  return json<CreatedRobot>(r);
}

/** A registry token from the double's token service, as `docker login` / a pull would ask for it. */
export async function token(auth: Auth, scope?: string): Promise<Reply> {
  const q = new URLSearchParams({ service: 'harbor-registry' });
  if (scope) q.set('scope', scope);
  else {
    q.set('account', auth && 'user' in auth ? auth.user : '');
    q.set('client_id', 'docker');
    q.set('offline_token', 'true');
  }
  return call('GET', `/service/token?${q.toString()}`, { auth });
}

export function decodeJwt(t: string): { header: Record<string, unknown>; claims: Record<string, unknown> } {
  const [h, c] = t.split('.');
  return {
    header: JSON.parse(Buffer.from(h!, 'base64url').toString('utf8')) as Record<string, unknown>,
    claims: JSON.parse(Buffer.from(c!, 'base64url').toString('utf8')) as Record<string, unknown>,
  };
}

/** skopeo's arguments with credentials in an auth file (never argv) and the stack CA; `dir` to remove after. */
function skopeoArgs(args: string[], creds?: { user: string; pass: string }): { argv: string[]; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'harbor-skopeo-'));
  copyFileSync(harbor.ca, join(dir, 'ca.crt'));
  const authfile = join(dir, 'auth.json');
  const auths = creds
    ? { [harbor.host]: { auth: Buffer.from(`${creds.user}:${creds.pass}`).toString('base64') } }
    : {};
  writeFileSync(authfile, JSON.stringify({ auths }), { mode: 0o600 });
  const certFlag = args[0] === 'copy' ? '--dest-cert-dir' : '--cert-dir';
  return {
    argv: [
      args[0]!,
      '--authfile',
      authfile,
      certFlag,
      dir,
      ...(args[0] === 'copy' ? ['--src-cert-dir', dir] : []),
      ...args.slice(1),
    ],
    dir,
  };
}

/** skopeo with credentials in an auth file (never argv) and the stack CA. */
export function skopeo(
  args: string[],
  creds?: { user: string; pass: string },
): { code: number; out: string } {
  const { argv, dir } = skopeoArgs(args, creds);
  const r = spawnSync('skopeo', argv, { encoding: 'utf8' });
  rmSync(dir, { recursive: true, force: true });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

/** skopeo as above, without blocking: for set-ups that do other things meanwhile. */
export function skopeoAsync(
  args: string[],
  creds?: { user: string; pass: string },
): Promise<{ code: number; out: string }> {
  const { argv, dir } = skopeoArgs(args, creds);
  return new Promise((done) => {
    execFile('skopeo', argv, { encoding: 'utf8' }, (err, stdout, stderr) => {
      rmSync(dir, { recursive: true, force: true });
      done({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, out: `${stdout}${stderr}` });
    });
  });
}

export const MANIFEST = { accept: 'application/vnd.oci.image.manifest.v1+json' };

/** Pulls a manifest the way a registry client does: challenge → token with these credentials → retry. */
export async function pull(repo: string, ref: string, auth?: { user: string; pass: string }): Promise<Reply> {
  const first = await call('GET', `/v2/${repo}/manifests/${ref}`, { headers: MANIFEST });
  if (first.status !== 401) throw new Error(`expected the registry's challenge, got HTTP ${first.status}`);
  const scope = /scope="([^"]+)"/.exec(String(first.headers['www-authenticate']))?.[1] ?? '';
  const t = json<{ token: string }>(await token(auth, scope)).token;
  return call('GET', `/v2/${repo}/manifests/${ref}`, { auth: { bearer: t }, headers: MANIFEST });
}

/** Creates a Harbor user and makes it a member of a project with a role (1 project admin, 2 developer…). */
export async function createMember(
  project: string,
  username: string,
  password: string,
  roleId: number,
): Promise<void> {
  const u = await call('POST', '/api/v2.0/users', {
    auth: admin(),
    body: { username, email: `${username}@example.com`, realname: username, password },
  });
  if (u.status !== 201) throw new Error(`create user ${username}: HTTP ${u.status} ${u.text}`);
  const m = await call('POST', `/api/v2.0/projects/${project}/members`, {
    auth: admin(),
    body: { role_id: roleId, member_user: { username } },
  });
  if (m.status !== 201) throw new Error(`add ${username} to ${project}: HTTP ${m.status} ${m.text}`);
}

/** The project's robots as Harbor lists them (admin), by full name. */
export async function robotsOf(
  projectId: number,
): Promise<{ id: number; name: string; disable: boolean; expires_at: number }[]> {
  const q = encodeURIComponent(`Level=project,ProjectID=${projectId}`);
  const r = await call('GET', `/api/v2.0/robots?q=${q}&page_size=100`, { auth: admin() });
  if (r.status !== 200) throw new Error(`list robots: HTTP ${r.status} ${r.text}`);
  return json<{ id: number; name: string; disable: boolean; expires_at: number }[]>(r);
}

/**
 * A second Harbor double of the test's own, on free loopback ports, configured as a Harbor whose
 * `robot_name_prefix` is not `robot$` (installations change it because `$` is awkward in shells and CI
 * variables): its robots log in as `<prefix><project>+<name>`, a name that need not look like a robot.
 * It shares the stack's registry and token-signing key, so its /v2/ serves the same content. The shared
 * double keeps Harbor's default: a prefix is one setting for a whole Harbor, and other tests use it.
 */
export class OwnHarbor {
  readonly adminPassword = `Own-${randomBytes(6).toString('hex')}A1`;
  readonly robotPrefix: string;
  url = '';
  adminApi = '';
  #child: ChildProcess | undefined;
  #dir = '';

  constructor(robotPrefix: string) {
    this.robotPrefix = robotPrefix;
  }

  async start(): Promise<this> {
    this.#dir = mkdtempSync(join(tmpdir(), 'own-harbor-'));
    const cfg = join(this.#dir, 'config.json');
    const pki = join(stack.run, 'pki');
    writeFileSync(
      cfg,
      JSON.stringify({
        adminPassword: this.adminPassword,
        listen: '127.0.0.1:0',
        admin: '127.0.0.1:0',
        upstream: new URL(harbor.registry).host,
        tlsCert: join(pki, 'serving.crt'),
        tlsKey: join(pki, 'serving.key'),
        tokenKey: join(dirname(harbor.tokenCert), 'token.key'),
        robotPrefix: this.robotPrefix,
      }),
      { mode: 0o600 },
    );
    const child = spawn(NODE, [join(ROOT, 'test/stack/harbor/double.ts'), cfg], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.#child = child;
    const ports = await new Promise<{ harborPort: number; adminPort: number }>((resolve, reject) => {
      let out = '';
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (c: string) => {
        out += c;
        const line = out.split('\n').find((l) => l.startsWith('{'));
        if (line && out.includes('\n'))
          resolve(JSON.parse(line) as { harborPort: number; adminPort: number });
      });
      child.once('exit', (code) => reject(new Error(`own harbor double exited (${code ?? 'signal'})`)));
      setTimeout(() => reject(new Error('own harbor double did not start in 20 s')), 20_000).unref();
    });
    this.url = `https://127.0.0.1:${ports.harborPort}`;
    this.adminApi = `http://127.0.0.1:${ports.adminPort}/_admin`;
    return this;
  }

  admin(): Auth {
    return { user: 'admin', pass: this.adminPassword };
  }

  /** One raw request to this double's API (path below its URL). */
  call(method: string, path: string, opts: Parameters<typeof call>[2] = {}): Promise<Reply> {
    return call(method, `${this.url}${path}`, opts);
  }

  async ok(method: string, path: string, body: unknown, auth = this.admin()): Promise<Reply> {
    const r = await this.call(method, path, { auth, body });
    if (r.status >= 300) throw new Error(`own harbor ${method} ${path}: HTTP ${r.status} ${r.text}`);
    return r;
  }

  /** The project's robots as Harbor lists them (admin). */
  async robotsOf(projectId: number): Promise<{ id: number; name: string; disable: boolean }[]> {
    const q = encodeURIComponent(`Level=project,ProjectID=${projectId}`);
    return json(await this.ok('GET', `/api/v2.0/robots?q=${q}&page_size=100`, undefined));
  }

  async stop(): Promise<void> {
    const child = this.#child;
    if (child && child.exitCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    }
    if (this.#dir) rmSync(this.#dir, { recursive: true, force: true });
  }
}
