/**
 * Harbor's token service (core/service/token): RS256 JWTs with a libtrust `kid`, `iss=harbor-token-issuer`,
 * `aud=harbor-registry` (a plain string), 30 minutes, and the access each requested scope is filtered down
 * to (every repository action the caller may do in that project, whatever it asked for). The same key
 * verifies bearer tokens sent to `/v2/` (the v2token security context), as Harbor's core does.
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Authenticator } from './auth.ts';
import { isAuthenticated, principalName, randomString, type Principal, type World } from './model.ts';
import { TOKEN_ACTIONS } from './rbac.ts';
import { empty } from './wire.ts';

export const ISSUER = 'harbor-token-issuer';
export const SERVICE = 'harbor-registry';
export const TOKEN_MINUTES = 30;
const LEEWAY_S = 60; // common.JwtLeeway

export interface ResourceActions {
  type: string;
  name: string;
  actions: string[];
}

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
function base32(b: Buffer): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of b) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += B32.charAt((value >>> (bits - 5)) & 31);
      bits -= 5;
    }
  }
  if (bits > 0) out += B32.charAt((value << (5 - bits)) & 31);
  return out;
}

/**
 * libtrust's key id, which distribution looks up in its rootcertbundle: SHA-256 of the DER public key,
 * first 240 bits, base32 without padding, in twelve groups of four joined by `:`.
 */
export function libtrustKeyId(key: KeyObject): string {
  const der = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const s = base32(createHash('sha256').update(der).digest().subarray(0, 30));
  return s.match(/.{4}/g)!.join(':');
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

export class TokenService {
  readonly #key: KeyObject;
  readonly kid: string;
  readonly #world: World;
  readonly #auth: Authenticator;

  constructor(keyFile: string, world: World, auth: Authenticator) {
    this.#key = createPrivateKey(readFileSync(keyFile));
    this.kid = libtrustKeyId(this.#key);
    this.#world = world;
    this.#auth = auth;
  }

  make(subject: string, access: ResourceActions[] | null): { token: string; issuedAt: Date } {
    const now = new Date();
    const t = Math.floor(now.getTime() / 1000);
    const header = { alg: 'RS256', kid: this.kid, typ: 'JWT' };
    const claims = {
      iss: ISSUER,
      ...(subject ? { sub: subject } : {}),
      aud: SERVICE,
      exp: t + TOKEN_MINUTES * 60,
      nbf: t,
      iat: t,
      jti: randomString(16),
      access,
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    return { token: `${input}.${b64url(sign('sha256', Buffer.from(input), this.#key))}`, issuedAt: now };
  }

  /** Every repository action `p` may do in the project the name starts with (Harbor's repositoryFilter). */
  actionsFor(p: Principal, repository: string): string[] {
    const [projectName, rest] = repository.split(/\/(.*)/s);
    if (!projectName || !rest) return [];
    const project = this.#world.project(projectName);
    if (!project) return [];
    return TOKEN_ACTIONS.filter((a) => this.#world.canProject(p, project, 'repository', a));
  }

  /** `scope` strings → filtered access, as GetResourceActions + filterAccess do. */
  access(p: Principal, scopes: string[]): ResourceActions[] {
    const out: ResourceActions[] = [];
    for (const s of scopes) {
      if (s === '') continue;
      const items = s.split(':');
      const type = items[0]!;
      const name = items.length === 2 ? items[1]! : items.slice(1, -1).join(':');
      let actions: string[] = [];
      if (type === 'repository') actions = this.actionsFor(p, name);
      else if (type === 'registry' && name === 'catalog' && p.kind === 'user' && p.user.sysadmin)
        actions = items.length > 2 && items.at(-1) ? items.at(-1)!.split(',') : [];
      out.push({ type, name, actions });
    }
    return out;
  }

  /** GET /service/token. Anything but GET is beego's default 405. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (req.method !== 'GET') {
      res.writeHead(405, { 'content-type': 'text/plain; charset=utf-8' }).end('Method Not Allowed\n');
      return;
    }
    const service = url.searchParams.get('service') ?? '';
    if (service !== SERVICE) {
      res
        .writeHead(400, { 'content-type': 'text/plain; charset=utf-8' })
        .end(`Unable to handle service: ${service}`);
      return;
    }
    const p = await this.#auth.basic(req);
    const scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' '));
    if (!isAuthenticated(p) && scopes.length === 0) {
      empty(res, 401); // CustomAbort(401, ""): no body at all
      return;
    }
    const { token, issuedAt } = this.make(
      principalName(this.#world, p),
      scopes.length ? this.access(p, scopes) : null,
    );
    const body = {
      token,
      access_token: '',
      expires_in: TOKEN_MINUTES * 60,
      issued_at: issuedAt.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    };
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
  }

  /** The v2token security context of a bearer token, or undefined when Harbor would not accept it. */
  principal(raw: string): (Principal & { kind: 'token' }) | undefined {
    const parts = raw.split('.');
    if (parts.length !== 3) return undefined;
    try {
      const header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as { alg?: string };
      if (header.alg !== 'RS256') return undefined;
      const ok = verify(
        'sha256',
        Buffer.from(`${parts[0]}.${parts[1]}`),
        createPublicKey(this.#key),
        Buffer.from(parts[2]!, 'base64url'),
      );
      if (!ok) return undefined;
      const c = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as {
        iss?: string;
        sub?: string;
        aud?: string | string[];
        exp?: number;
        nbf?: number;
        iat?: number;
        access?: ResourceActions[] | null;
      };
      const now = Date.now() / 1000;
      const aud = Array.isArray(c.aud) ? c.aud : [c.aud];
      if (c.iss !== ISSUER || !aud.includes(SERVICE)) return undefined;
      if (
        c.exp === undefined ||
        c.exp + LEEWAY_S < now ||
        (c.nbf ?? 0) - LEEWAY_S > now ||
        c.iat === undefined
      )
        return undefined;
      const access = new Map<string, Set<string>>();
      for (const a of c.access ?? []) {
        if (a.type !== 'repository') continue;
        const set = new Set<string>();
        for (const act of a.actions) {
          if (act === '*') ['pull', 'push', 'delete'].forEach((x) => set.add(x));
          else set.add(act);
        }
        access.set(a.name.split('/')[0]!, set);
      }
      return { kind: 'token', name: c.sub ?? '', access, iat: c.iat };
    } catch {
      return undefined;
    }
  }
}
