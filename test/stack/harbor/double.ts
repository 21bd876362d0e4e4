/**
 * The stack's Harbor: a double of Harbor 2.15's core — the `/api/v2.0` routes a robot issuer uses, the
 * token service, and `/v2/*` in front of a real distribution registry that checks Harbor-format tokens —
 * built from HARBOR-FACTS (observed behaviour) and Harbor's own handlers. One HTTPS listener serves all
 * three; a plain-HTTP loopback listener serves the tests' admin API (knobs, the auth log).
 *
 * Usage: node double.ts <config.json>
 *   config: { adminPassword, listen, admin, upstream, tlsCert, tlsKey, tokenKey, robotPrefix? }
 *   (robotPrefix: Harbor's robot_name_prefix, `robot$` unless given; a port 0 listens on any free port,
 *   and the ports taken are printed as one JSON line on stdout)
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttp, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { Api } from './api.ts';
import { API } from './call.ts';
import { Authenticator } from './auth.ts';
import { World } from './model.ts';
import { TokenService } from './token.ts';
import { RegistryFront } from './v2.ts';
import { HarborError, readBody, sendError, sendJson } from './wire.ts';

interface Config {
  adminPassword: string;
  listen: string;
  admin: string;
  upstream: string;
  tlsCert: string;
  tlsKey: string;
  tokenKey: string;
  robotPrefix?: string;
}

const configFile = process.argv[2];
if (!configFile) {
  process.stderr.write('usage: double.ts <config.json>\n');
  process.exit(2);
}
const config = JSON.parse(readFileSync(configFile, 'utf8')) as Config;
const world = new World(config.adminPassword, config.robotPrefix);
const auth = new Authenticator(world);
const tokens = new TokenService(config.tokenKey, world, auth);
const api = new Api(world, auth);
const front = new RegistryFront(world, auth, tokens, config.upstream);
const MANIFEST_PUT = /^\/v2\/(([a-z0-9._-]+)\/.+)\/manifests\/[^/]+$/;

const split = (hostPort: string): [string, number] => {
  const i = hostPort.lastIndexOf(':');
  return [hostPort.slice(0, i), Number(hostPort.slice(i + 1))];
};

const harbor = createHttps(
  { cert: readFileSync(config.tlsCert), key: readFileSync(config.tlsKey) },
  (req, res) => {
    const url = new URL(req.url ?? '/', 'https://harbor.invalid');
    void (async () => {
      try {
        if (url.pathname === API || url.pathname.startsWith(`${API}/`)) {
          res.on('finish', () => record(req.method ?? '', url.pathname, res.statusCode));
          if (await underFaults(req, res)) await api.handle(req, res, url);
        } else if (url.pathname === '/service/token') await tokens.handle(req, res, url);
        else if (url.pathname === '/v2' || url.pathname.startsWith('/v2/')) {
          if (url.pathname === '/v2') url.pathname = '/v2/';
          noteRepository(req, res, url);
          await front.handle(req, res, url);
        } else sendError(res, new HarborError('NOT_FOUND', `path ${url.pathname} was not found`));
      } catch (e) {
        if (e instanceof HarborError) {
          if (!res.headersSent) sendError(res, e);
          return;
        }
        process.stderr.write(`harbor double: ${(e as Error).stack ?? String(e)}\n`);
        if (!res.headersSent) sendError(res, new HarborError('UNKNOWN', 'internal server error'));
      }
    })();
  },
);

/**
 * Faults for the API only, as a proxy or load balancer in front of Harbor would cause them (Harbor itself
 * does not rate-limit): `status` (429/5xx) for the next `times` requests with a Retry-After, `latencyMs`
 * on every request (or only on those of `latencyMethods`, which lets a test order two clients' writes after
 * both their reads), `stopped` drops connections. Never of /v2 or the token service. `user` narrows them to
 * requests whose Basic login is that user: the integration and node lanes share the double, and a test's
 * 503s must not fail the other lane's rotation.
 */
interface Faults {
  user?: string;
  status?: number;
  times?: number;
  retryAfterSeconds?: number;
  latencyMs?: number;
  latencyMethods?: string[];
  stopped?: boolean;
}
let faults: Faults = {};
/**
 * The API requests answered (method, path, status; never a header or body), newest last, each with its
 * number: the oldest are dropped past 2,000, so a test asks for those after a number, not an index.
 */
const requests: { seq: number; method: string; path: string; status: number }[] = [];
let answered = 0;
function record(method: string, path: string, status: number): void {
  requests.push({ seq: ++answered, method, path, status });
  if (requests.length > 2000) requests.splice(0, 500);
}
/** The user of a request's Basic login, if it has one. */
function basicUser(req: IncomingMessage): string | undefined {
  const m = /^Basic\s+(\S+)/i.exec(req.headers.authorization ?? '');
  return m ? Buffer.from(m[1]!, 'base64').toString().split(':')[0] : undefined;
}

async function underFaults(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  if (faults.user !== undefined && basicUser(req) !== faults.user) return true;
  if (faults.stopped) {
    req.socket.destroy();
    return false;
  }
  if (faults.latencyMs && (faults.latencyMethods?.includes(req.method ?? '') ?? true))
    await new Promise((r) => setTimeout(r, faults.latencyMs));
  if (faults.status !== undefined && (faults.times ?? 0) > 0) {
    faults.times = (faults.times ?? 1) - 1;
    const headers: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8' };
    if (faults.retryAfterSeconds !== undefined) headers['retry-after'] = String(faults.retryAfterSeconds);
    res
      .writeHead(faults.status, headers)
      .end(faults.status === 429 ? 'Too Many Requests\n' : 'Service Unavailable\n');
    return false;
  }
  return true;
}

/** A pushed manifest makes its repository count in the project's `repo_count`. */
function noteRepository(req: IncomingMessage, res: ServerResponse, url: URL): void {
  const m = req.method === 'PUT' ? MANIFEST_PUT.exec(url.pathname) : null;
  if (!m) return;
  res.on('finish', () => {
    const project = world.project(m[2]!);
    if (res.statusCode !== 201 || !project) return;
    const set = api.repos.get(project.id) ?? new Set<string>();
    set.add(m[1]!);
    api.repos.set(project.id, set);
  });
}

/** The admin API (tests only): knobs and the auth log; never a secret. */
const admin = createHttp((req, res) => {
  const path = new URL(req.url ?? '/', 'http://admin.invalid').pathname.replace(/\/+$/, '');
  void (async () => {
    if (path === '/healthz') return void res.writeHead(200).end('ok');
    const body =
      req.method === 'POST' ? (JSON.parse((await readBody(req)) || '{}') as Record<string, unknown>) : {};
    if (path === '/_admin/reset' && req.method === 'POST') {
      // Knobs back to Harbor's; `{"data":true}` also wipes users, projects and robots (a fresh install).
      if (body.data === true) {
        world.reset();
        api.repos.clear();
      }
      world.penaltyMs = 1500;
      world.skewMs = 0;
      faults = {};
      auth.events.splice(0);
      return sendJson(res, 200, { penaltyMs: world.penaltyMs, skewSeconds: 0 });
    }
    if (path === '/_admin/penalty') {
      if (typeof body.ms === 'number') world.penaltyMs = body.ms;
      return sendJson(res, 200, { ms: world.penaltyMs });
    }
    if (path === '/_admin/clock') {
      if (typeof body.skewSeconds === 'number') world.skewMs = body.skewSeconds * 1000;
      return sendJson(res, 200, { skewSeconds: world.skewMs / 1000 });
    }
    if (path === '/_admin/faults') {
      if (req.method === 'POST') faults = body;
      if (req.method === 'DELETE') faults = {};
      return sendJson(res, 200, faults);
    }
    if (path === '/_admin/requests') return sendJson(res, 200, requests);
    if (path === '/_admin/auth-log') return sendJson(res, 200, auth.events);
    if (path === '/_admin/signing-key') return sendJson(res, 200, { kid: tokens.kid });
    sendJson(res, 404, { error: `no route ${req.method ?? ''} ${path}` });
  })().catch((e: unknown) => {
    if (!res.headersSent) sendJson(res, 500, { error: (e as Error).message });
  });
});

const listening = (s: typeof admin | typeof harbor, hostPort: string): Promise<number> =>
  new Promise((resolve) => {
    s.listen(split(hostPort)[1], split(hostPort)[0], () => {
      const a = s.address();
      resolve(typeof a === 'object' && a ? a.port : 0);
    });
  });
void Promise.all([listening(harbor, config.listen), listening(admin, config.admin)]).then(([h, a]) =>
  process.stdout.write(`${JSON.stringify({ harborPort: h, adminPort: a })}\n`),
);
for (const sig of ['SIGTERM', 'SIGINT'] as const)
  process.on(sig, () => {
    harbor.close();
    admin.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  });
