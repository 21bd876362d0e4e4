/**
 * `<registry>.azurecr.io`: the registry's own auth in front of a real distribution registry (ACR-FACTS
 * 37–46, 64). The Bearer challenge on `/v2/`; Basic accepted directly on `/v2/*` for an enabled token and a
 * replicated, unexpired slot; bad Basic → 401 `Basic realm="Azure Container Registry"`; `/oauth2/token`
 * (GET with Basic, POST password grant) minting tokens whose `access` follows the token's scope map.
 * Allowed content requests are passed to the distribution registry unchanged.
 */
import { randomUUID, timingSafeEqual } from 'node:crypto';
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import { readBody } from '../azure/entra.ts';
import { decodeJwt, nowSeconds, signatureValid, signJwt, type SigningKey } from '../azure/jwt.ts';
import { SLOTS, World, type Registry, type Token } from './model.ts';

const AUTH_MESSAGE = 'authentication required, visit https://aka.ms/acr/authorization for more information.';
type Action = 'pull' | 'push' | 'delete' | 'metadata_read';
const SCOPE_MAP_ACTION: Record<string, Action> = {
  'content/read': 'pull',
  'content/write': 'push',
  'content/delete': 'delete',
  'metadata/read': 'metadata_read',
};

/** What a token's scope map grants on `repo` (`repositories/<repo|prefix/*|*>/<action>`). */
export function granted(reg: Registry, t: Token, repo: string): Set<Action> {
  const out = new Set<Action>();
  for (const a of reg.scopeMaps.get(t.scopeMap.toLowerCase())?.actions ?? []) {
    const m =
      /^repositories\/(.+)\/(content\/read|content\/write|content\/delete|metadata\/read|metadata\/write)$/.exec(
        a,
      );
    if (!m) continue;
    const pattern = m[1]!;
    const hit =
      pattern === '*' ||
      pattern === repo ||
      (pattern.endsWith('/*') && repo.startsWith(pattern.slice(0, -1)));
    const action = SCOPE_MAP_ACTION[m[2]!];
    if (hit && action) out.add(action);
  }
  return out;
}

export class RegistryFront {
  readonly #w: World;
  readonly #key: SigningKey;
  readonly #backend: URL;

  constructor(world: World, key: SigningKey) {
    this.#w = world;
    this.#key = key;
    this.#backend = new URL(`http://${world.config.backend}`);
  }

  /** Which registry a request is for: its Host, or containerd's `ns` (mirror host), or the token request's `service`. */
  #registry(req: IncomingMessage, url: URL): Registry | undefined {
    const names = [
      req.headers.host ?? '',
      url.searchParams.get('ns') ?? '',
      url.searchParams.get('service') ?? '',
    ];
    for (const n of names) {
      const m = /^([a-z0-9]+)\.azurecr\.io(:\d+)?$/i.exec(n);
      if (m) return this.#w.registries.get(m[1]!.toLowerCase());
    }
    return this.#w.registries.values().next().value;
  }

  /** An enabled token whose replicated, unexpired slot holds `password`. */
  #login(reg: Registry, user: string, password: string): Token | undefined {
    const t = reg.tokens.get(user.toLowerCase());
    if (!t || t.status !== 'enabled') return undefined;
    const pw = Buffer.from(password);
    for (const n of SLOTS) {
      const v = World.replicated(t, n);
      if (!v || (v.expiresAt !== undefined && v.expiresAt <= Date.now())) continue;
      const have = Buffer.from(v.value);
      if (have.length === pw.length && timingSafeEqual(have, pw)) return t;
    }
    return undefined;
  }

  #basic(req: IncomingMessage): { user: string; password: string } | undefined {
    const m = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (!m) return undefined;
    const s = Buffer.from(m[1]!, 'base64').toString('utf8');
    const i = s.indexOf(':');
    return i < 0 ? undefined : { user: s.slice(0, i), password: s.slice(i + 1) };
  }

  #send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): number {
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(text)),
      'docker-distribution-api-version': 'registry/2.0',
      'x-ms-correlation-request-id': randomUUID(),
      'strict-transport-security': 'max-age=31536000; includeSubDomains',
      'x-content-type-options': 'nosniff',
      'access-control-expose-headers':
        'Docker-Content-Digest, WWW-Authenticate, Link, X-Ms-Correlation-Request-Id',
      server: 'openresty',
      ...headers,
    });
    res.end(text);
    return status;
  }

  #unauthorized(res: ServerResponse, challenge: string, detail?: { repo: string; action: string }): number {
    return this.#send(
      res,
      401,
      {
        errors: [
          {
            code: 'UNAUTHORIZED',
            message: AUTH_MESSAGE,
            ...(detail ? { detail: [{ Type: 'repository', Name: detail.repo, Action: detail.action }] } : {}),
          },
        ],
      },
      { 'www-authenticate': challenge },
    );
  }

  async handle(
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<{ status: number; operation: string; principal: string | null }> {
    const url = new URL(req.url ?? '/', `https://${req.headers.host ?? 'registry.invalid'}`);
    const reg = this.#registry(req, url);
    if (!reg)
      return {
        status: this.#send(res, 404, { errors: [{ code: 'NAME_UNKNOWN', message: 'registry not found' }] }),
        operation: 'unknown',
        principal: null,
      };
    if (url.pathname === '/oauth2/token') return this.#token(req, res, url, reg);
    const path = url.pathname;
    if (!path.startsWith('/v2'))
      return {
        status: this.#send(res, 404, { errors: [{ code: 'NOT_FOUND', message: 'not found' }] }),
        operation: 'unknown',
        principal: null,
      };
    const service = `${reg.name}.azurecr.io`;
    const realm = `https://${req.headers.host ?? service}/oauth2/token`;
    const m = /^\/v2\/(.+?)\/(manifests|blobs|tags|referrers)(\/.*)?$/.exec(path);
    const repo = m?.[1];
    const method = req.method ?? 'GET';
    const action: Action =
      m?.[2] === 'tags'
        ? 'metadata_read'
        : method === 'GET' || method === 'HEAD'
          ? 'pull'
          : method === 'DELETE'
            ? 'delete'
            : 'push';
    const wire = action === 'push' ? 'pull,push' : action;
    const bearer = `Bearer realm="${realm}",service="${service}"`;
    const challenge = repo ? `${bearer},scope="repository:${repo}:${wire}"` : bearer;
    const auth = req.headers.authorization;
    if (auth === undefined)
      return {
        status: this.#unauthorized(res, challenge, repo ? { repo, action: wire } : undefined),
        operation: 'challenge',
        principal: null,
      };

    let who: string;
    let allowed: (repo: string) => Set<string>;
    const basic = this.#basic(req);
    if (basic) {
      const t = this.#login(reg, basic.user, basic.password);
      // ACR answers bad Basic credentials with a Basic challenge, not Bearer (ACR-FACTS 39).
      if (!t)
        return {
          status: this.#unauthorized(res, 'Basic realm="Azure Container Registry"'),
          operation: 'basic',
          principal: basic.user,
        };
      who = t.name;
      allowed = (r) => granted(reg, t, r);
    } else {
      const claims = this.#verify(auth, service);
      if (!claims)
        return {
          status: this.#unauthorized(res, `${challenge},error="invalid_token"`),
          operation: 'bearer',
          principal: null,
        };
      who = claims.sub;
      allowed = (r) =>
        new Set(
          claims.access.filter((a) => a.type === 'repository' && a.name === r).flatMap((a) => a.actions),
        );
    }
    const operation = basic ? 'basic' : 'bearer';
    if (path === '/v2/' || path === '/v2')
      return { status: this.#send(res, 200, {}), operation, principal: who };
    if (!repo || !allowed(repo).has(action)) {
      if (!basic)
        return {
          status: this.#unauthorized(
            res,
            `${challenge},error="insufficient_scope"`,
            repo ? { repo, action: wire } : undefined,
          ),
          operation,
          principal: who,
        };
      return {
        status: this.#send(res, 403, {
          errors: [{ code: 'DENIED', message: 'requested access to the resource is denied' }],
        }),
        operation,
        principal: who,
      };
    }
    return { status: await this.#proxy(req, res, url), operation, principal: who };
  }

  #verify(
    auth: string,
    service: string,
  ): { sub: string; access: { type: string; name: string; actions: string[] }[] } | undefined {
    const m = /^Bearer\s+(\S+)$/i.exec(auth);
    const d = m ? decodeJwt(m[1]!) : undefined;
    if (!d || !signatureValid(d, [this.#key.jwk])) return undefined;
    const c = d.claims as {
      sub?: string;
      aud?: string;
      exp?: number;
      access?: { type: string; name: string; actions: string[] }[];
    };
    if (c.aud !== service || (c.exp ?? 0) <= nowSeconds()) return undefined;
    return { sub: c.sub ?? '', access: c.access ?? [] };
  }

  /** `/oauth2/token`: GET with Basic, or POST `grant_type=password` (ACR-FACTS 40, 41). */
  async #token(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    reg: Registry,
  ): Promise<{ status: number; operation: string; principal: string | null }> {
    let user: string | undefined;
    let password: string | undefined;
    let scopes = url.searchParams.getAll('scope');
    if (req.method === 'POST') {
      const form = new URLSearchParams(await readBody(req));
      // containerd POSTs first with client_id=containerd-client and falls back to GET on 400, noting
      // "As of January 2022, ACR is known to return 400"; the az CLI's form carries no client_id.
      if (form.get('client_id') !== null)
        return {
          status: this.#send(res, 400, {
            errors: [{ code: 'UNSUPPORTED', message: 'client_id is not supported' }],
          }),
          operation: 'token-post',
          principal: null,
        };
      if (form.get('grant_type') !== 'password')
        return {
          status: this.#send(res, 400, {
            errors: [{ code: 'UNSUPPORTED', message: 'unsupported grant_type' }],
          }),
          operation: 'token-post',
          principal: null,
        };
      user = form.get('username') ?? undefined;
      password = form.get('password') ?? undefined;
      scopes = form
        .getAll('scope')
        .flatMap((s) => s.split(' '))
        .filter(Boolean);
    } else {
      const b = this.#basic(req);
      user = b?.user;
      password = b?.password;
    }
    const operation = req.method === 'POST' ? 'token-post' : 'token-get';
    const t = user !== undefined && password !== undefined ? this.#login(reg, user, password) : undefined;
    if (!t)
      return {
        status: this.#unauthorized(res, 'Basic realm="Azure Container Registry"'),
        operation,
        principal: user ?? null,
      };
    const access: { type: string; name: string; actions: string[] }[] = [];
    for (const s of scopes) {
      const m = /^repository:([^:]+):(.+)$/.exec(s);
      if (!m) continue; // registry:catalog:* and the like: a token, with nothing in it (ACR-FACTS 46)
      const have = granted(reg, t, m[1]!);
      const actions = m[2]!.split(',').filter((a) => have.has(a as Action));
      if (actions.length > 0) access.push({ type: 'repository', name: m[1]!, actions });
    }
    const now = nowSeconds();
    const token = signJwt(
      {
        jti: randomUUID(),
        sub: t.name,
        nbf: now - 10,
        exp: now + this.#w.settings.accessTokenSeconds,
        iat: now,
        iss: 'Azure Container Registry',
        aud: `${reg.name}.azurecr.io`,
        version: '1.0',
        grant_type: 'password',
        access,
        roles: [],
      },
      this.#key,
    );
    return { status: this.#send(res, 200, { access_token: token }), operation, principal: t.name };
  }

  /** The content request, as is, to the distribution registry; its upload Locations pointed back at us. */
  #proxy(req: IncomingMessage, res: ServerResponse, url: URL): Promise<number> {
    url.searchParams.delete('ns');
    const headers = { ...req.headers, host: this.#backend.host };
    delete headers.authorization;
    delete headers.connection;
    return new Promise((resolve) => {
      const up = request(
        {
          host: this.#backend.hostname,
          port: this.#backend.port,
          method: req.method,
          path: `${url.pathname}${url.search}`,
          headers,
        },
        (r) => {
          const out = { ...r.headers };
          const loc = out.location;
          if (typeof loc === 'string' && loc.startsWith(this.#backend.origin))
            out.location = `${url.origin}${loc.slice(this.#backend.origin.length)}`;
          res.writeHead(r.statusCode ?? 502, out);
          r.pipe(res);
          r.on('end', () => resolve(r.statusCode ?? 502));
        },
      );
      up.on('error', () =>
        resolve(this.#send(res, 502, { errors: [{ code: 'UNAVAILABLE', message: 'backend unavailable' }] })),
      );
      req.pipe(up);
    });
  }
}
