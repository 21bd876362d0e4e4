/**
 * `/v2/*` as Harbor's core serves it (server/middleware/v2auth): it works out who the caller is (a bearer
 * token it issued, or Basic credentials), decides from the request's access list (login, catalog, or a
 * repository action by method) and answers 401 itself with Harbor's challenge and messages; allowed
 * requests go on to a real distribution registry that checks a Harbor-format token again (the caller's
 * own token, or one minted here for Basic callers, as Harbor's core vouches for them).
 */
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Authenticator } from './auth.ts';
import { isAuthenticated, type Principal, type World } from './model.ts';
import { SERVICE, type TokenService } from './token.ts';
import { HarborError, bearerToken, sendError } from './wire.ts';

const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const REPO_PATH = new RegExp(
  `^/v2/(${COMPONENT}(?:/${COMPONENT})*)/(manifests/.+|tags/list|blobs/uploads[/a-zA-Z0-9\\-_.=]*|blobs/[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+|referrers/.+)$`,
);
const LEEWAY_MS = 60_000;

interface AccessItem {
  target: 'login' | 'catalog' | 'repository';
  name: string;
  action: string;
}

const ACTION: Record<string, string> = {
  GET: 'pull',
  HEAD: 'pull',
  POST: 'push',
  PUT: 'push',
  PATCH: 'push',
  DELETE: 'delete',
};

function accessList(method: string, url: URL): AccessItem[] {
  if (url.pathname === '/v2/') return [{ target: 'login', name: '', action: '' }];
  if (/^\/v2\/_catalog(\/.*)?$/.test(url.pathname)) return [{ target: 'catalog', name: '', action: '' }];
  const m = REPO_PATH.exec(url.pathname);
  const action = ACTION[method];
  if (!m || !action) return [];
  const out: AccessItem[] = [{ target: 'repository', name: m[1]!, action }];
  const from = url.searchParams.get('from');
  if (method === 'POST' && url.searchParams.get('mount') && from)
    out.push({ target: 'repository', name: from, action: 'pull' });
  return out;
}

const scopeOf = (a: AccessItem): string =>
  a.target !== 'repository' ? '' : `repository:${a.name}:${a.action === 'push' ? 'pull,push' : a.action}`;

export class RegistryFront {
  readonly #world: World;
  readonly #auth: Authenticator;
  readonly #tokens: TokenService;
  readonly #upstream: { host: string; port: number };
  readonly #scheme: string;

  constructor(world: World, auth: Authenticator, tokens: TokenService, upstream: string, scheme = 'https') {
    this.#world = world;
    this.#auth = auth;
    this.#tokens = tokens;
    const i = upstream.lastIndexOf(':');
    this.#upstream = { host: upstream.slice(0, i), port: Number(upstream.slice(i + 1)) };
    this.#scheme = scheme;
  }

  #challenge(req: IncomingMessage, al: AccessItem[]): string {
    if (req.headers.authorization || /^\/v2\/_catalog/.test(req.url ?? '')) return 'Basic realm="harbor"';
    const scope = al.map(scopeOf).filter(Boolean).join(' ');
    const c = `Bearer realm="${this.#scheme}://${req.headers.host ?? ''}/service/token",service="${SERVICE}"`;
    return scope ? `${c},scope="${scope}"` : c;
  }

  async #principal(req: IncomingMessage, al: AccessItem[]): Promise<Principal> {
    const raw = bearerToken(req);
    if (raw === undefined) return this.#auth.basic(req);
    const t = this.#tokens.principal(raw);
    if (!t) return { kind: 'anonymous' };
    // A token issued before its project was (re)created is refused (tokenIssuedAfterProjectCreation).
    for (const a of al) {
      const project = a.target === 'repository' ? this.#world.project(a.name.split('/')[0]!) : undefined;
      if (a.target === 'repository' && !project) return { kind: 'anonymous' };
      if (project && t.iat * 1000 + LEEWAY_MS < project.created - this.#world.skewMs)
        return { kind: 'anonymous' };
    }
    return t;
  }

  /** The refusal Harbor's v2auth middleware would send, or undefined to let the request through. */
  #check(
    req: IncomingMessage,
    p: Principal,
    al: AccessItem[],
  ): { challenge: string; message: string } | undefined {
    if (al.length === 0) return { challenge: '', message: `un-recognized request: ${req.method} ${req.url}` };
    for (const a of al) {
      if (a.target === 'login' && !isAuthenticated(p))
        return { challenge: this.#challenge(req, al), message: 'unauthorized' };
      if (a.target === 'catalog' && !this.#world.canSystem(p, 'catalog', 'read'))
        return { challenge: this.#challenge(req, al), message: 'unauthorized to list catalog' };
      if (a.target !== 'repository') continue;
      if (!req.headers.authorization && (req.method === 'GET' || req.method === 'HEAD'))
        return {
          challenge: this.#challenge(req, al),
          message: 'authorize header needed to send HEAD to repository',
        };
      const projectName = a.name.split('/')[0]!;
      const project = this.#world.project(projectName);
      if (!project) return { challenge: '', message: `project ${projectName} not found` };
      if (!this.#world.canProject(p, project, 'repository', a.action))
        return {
          challenge: this.#challenge(req, al),
          message: `unauthorized to access repository: ${a.name}, action: ${a.action}`,
        };
    }
    return undefined;
  }

  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const al = accessList(req.method ?? 'GET', url);
    const p = await this.#principal(req, al);
    const refusal = this.#check(req, p, al);
    if (refusal) {
      // UnauthorizedError(err).WithMessage(err.Error()): the cause repeats after a colon.
      sendError(res, new HarborError('UNAUTHORIZED', `${refusal.message}: ${refusal.message}`), {
        'docker-distribution-api-version': 'registry/2.0',
        'www-authenticate': refusal.challenge,
      });
      return;
    }
    let authorization = req.headers.authorization ?? '';
    if (p.kind !== 'token') {
      const repo = al.find((a) => a.target === 'repository');
      const access = al
        .filter((a) => a.target === 'repository')
        .map((a) => ({ type: 'repository', name: a.name, actions: this.#tokens.actionsFor(p, a.name) }));
      const subject =
        p.kind === 'user' ? p.user.username : p.kind === 'robot' ? this.#world.robotName(p.robot) : '';
      authorization = `Bearer ${this.#tokens.make(subject, repo ? access : null).token}`;
    }
    this.#forward(req, res, authorization);
  }

  #forward(req: IncomingMessage, res: ServerResponse, authorization: string): void {
    const headers = { ...req.headers, authorization, 'x-forwarded-proto': this.#scheme };
    const up = request(
      { host: this.#upstream.host, port: this.#upstream.port, method: req.method, path: req.url, headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', () => {
      if (!res.headersSent) sendError(res, new HarborError('UNKNOWN', 'internal server error'));
      else res.destroy();
    });
    req.pipe(up);
  }
}
