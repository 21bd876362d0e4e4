/**
 * ARM's front door: a bearer token from the stack's Entra double (its signature checked against that
 * double's published keys, audience, issuer tenant, expiry), then RBAC: the caller's role assignments at
 * or above the resource, and 403 AuthorizationFailed naming the action it lacks (ACR-FACTS 25, 26).
 */
import { readFileSync } from 'node:fs';
import { get } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { decodeJwt, nowSeconds, signatureValid } from '../azure/jwt.ts';
import type { World } from './model.ts';
import { actionAllowed } from './roles.ts';

/** The audiences ARM accepts, in the order its own error message lists them. */
const AUDIENCES = [
  'https://management.core.windows.net/',
  'https://management.core.windows.net',
  'https://management.azure.com/',
  'https://management.azure.com',
];

export interface Caller {
  appId: string;
  objectId: string;
}

export interface Refusal {
  status: number;
  headers: Record<string, string>;
  body: { error: { code: string; message: string } };
}

type Jwk = { kid?: string };

export class ArmAuth {
  readonly #world: World;
  readonly #ca: Buffer | undefined;
  #keys: { keys: Jwk[]; at: number } | undefined;

  constructor(world: World, caFile: string | undefined) {
    this.#world = world;
    this.#ca = caFile ? readFileSync(caFile) : undefined;
  }

  /** The Entra double's signing keys, re-read when a token names a key not seen yet (the double restarted). */
  async #jwks(refresh: boolean): Promise<Jwk[]> {
    if (this.#keys && !refresh) return this.#keys.keys;
    if (this.#keys && Date.now() - this.#keys.at < 2000) return this.#keys.keys;
    const body = await new Promise<string>((resolve, reject) => {
      get(this.#world.config.jwksUrl, { ca: this.#ca, timeout: 5000 }, (r) => {
        let s = '';
        r.setEncoding('utf8');
        r.on('data', (c: string) => (s += c));
        r.on('end', () =>
          r.statusCode === 200 ? resolve(s) : reject(new Error(`jwks: HTTP ${r.statusCode}`)),
        );
      }).on('error', reject);
    });
    this.#keys = { keys: (JSON.parse(body) as { keys: Jwk[] }).keys, at: Date.now() };
    return this.#keys.keys;
  }

  #refuse(code: string, message: string, description: string): Refusal {
    const tid = this.#world.config.tenantId;
    return {
      status: 401,
      headers: {
        'www-authenticate': `Bearer authorization_uri="https://login.windows.net/${tid}", error="invalid_token", error_description="${description}"`,
      },
      body: { error: { code, message } },
    };
  }

  async authenticate(req: IncomingMessage): Promise<Caller | Refusal> {
    const header = req.headers.authorization;
    if (header === undefined) {
      return this.#refuse(
        'AuthenticationFailed',
        "Authentication failed. The 'Authorization' header is missing.",
        "The authentication failed because of missing 'Authorization' header.",
      );
    }
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m) {
      return this.#refuse(
        'AuthenticationFailed',
        "Authentication failed. The 'Authorization' header is provided in an invalid format.",
        "The 'Authorization' header is provided in an invalid format.",
      );
    }
    const d = decodeJwt(m[1]!);
    const invalid = () =>
      this.#refuse(
        'InvalidAuthenticationToken',
        'The access token is invalid.',
        'The access token is invalid.',
      );
    if (!d) return invalid();
    let keys = await this.#jwks(false).catch(() => [] as Jwk[]);
    if (!signatureValid(d, keys)) {
      keys = await this.#jwks(true).catch(() => [] as Jwk[]);
      if (!signatureValid(d, keys)) return invalid();
    }
    const c = d.claims;
    const aud = typeof c['aud'] === 'string' ? c['aud'] : '';
    if (!AUDIENCES.includes(aud)) {
      return this.#refuse(
        'InvalidAuthenticationTokenAudience',
        `The access token has been obtained for wrong audience or resource '${aud}'. It should exactly match with one of the allowed audiences ${AUDIENCES.map((a) => `'${a}'`).join(',')}.`,
        'The access token has been obtained for wrong audience or resource.',
      );
    }
    const tid = this.#world.config.tenantId;
    const iss = typeof c['iss'] === 'string' ? c['iss'] : '';
    if (iss !== `https://sts.windows.net/${tid}/`) {
      return this.#refuse(
        'InvalidAuthenticationTokenTenant',
        `The access token is from the wrong issuer '${iss}'. It must match the tenant 'https://sts.windows.net/${tid}/' associated with this subscription. Please use the authority (URL) 'https://login.windows.net/${tid}' to get the token.`,
        'The access token is from the wrong issuer.',
      );
    }
    const exp = typeof c['exp'] === 'number' ? c['exp'] : 0;
    if (exp <= nowSeconds()) {
      return this.#refuse(
        'ExpiredAuthenticationToken',
        `The access token expiry UTC time '${new Date(exp * 1000).toISOString()}' is earlier than current UTC time '${new Date().toISOString()}'.`,
        'The access token expiry UTC time is earlier than current UTC time.',
      );
    }
    const appId = typeof c['appid'] === 'string' ? c['appid'] : '';
    const objectId = typeof c['oid'] === 'string' ? c['oid'] : '';
    if (!objectId) return invalid();
    return { appId, objectId };
  }

  /** RBAC at `scope` (the resource id); undefined when allowed. */
  authorize(caller: Caller, action: string, scope: string): Refusal | undefined {
    if (actionAllowed(this.#world.principalActions(caller.objectId, scope), action)) return undefined;
    return {
      status: 403,
      headers: {},
      body: {
        error: {
          code: 'AuthorizationFailed',
          message: `The client '${caller.appId}' with object id '${caller.objectId}' does not have authorization to perform action '${action}' over scope '${scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
        },
      },
    };
  }
}

export const isRefusal = (x: Caller | Refusal): x is Refusal => 'status' in x;
