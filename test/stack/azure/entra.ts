/**
 * Entra ID (login.microsoftonline.com) and the managed-identity endpoints, as the real SDKs see them:
 * OpenID configuration and JWKS per tenant, the v2.0 token endpoint for client credentials (client secret,
 * or a federated client assertion verified against the issuer's own keys), IMDS and App Service token
 * routes. Error bodies follow Entra's shape: {error, error_description "AADSTS…", error_codes, …}.
 */
import { randomUUID } from 'node:crypto';
import { get } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { decodeJwt, nowSeconds, signatureValid, signJwt, type SigningKey } from './jwt.ts';
import type { World } from './model.ts';

export const LOGIN_HOST = 'login.microsoftonline.com';
const TOKEN_LIFETIME = 3599;

export function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store, no-cache',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

function aadError(res: ServerResponse, status: number, error: string, code: number, description: string) {
  const timestamp = new Date().toISOString().replace('T', ' ').slice(0, 19) + 'Z';
  const traceId = randomUUID();
  const correlationId = randomUUID();
  json(res, status, {
    error,
    error_description: `AADSTS${code}: ${description}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${timestamp}`,
    error_codes: [code],
    timestamp,
    trace_id: traceId,
    correlation_id: correlationId,
    error_uri: `https://${LOGIN_HOST}/error?code=${code}`,
  });
}

export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let s = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (s += c));
    req.on('end', () => resolve(s));
    req.on('error', reject);
  });
}

/** Fetches (and caches) a trusted issuer's JWKS, the way Entra reads a federated issuer's keys. */
class IssuerKeys {
  readonly #cache = new Map<string, { keys: { kid?: string }[]; at: number }>();
  readonly #ca: Buffer | undefined;
  constructor(ca: Buffer | undefined) {
    this.#ca = ca;
  }
  async keys(jwksUrl: string, refresh: boolean): Promise<{ kid?: string }[]> {
    const c = this.#cache.get(jwksUrl);
    if (c && !refresh && Date.now() - c.at < 300_000) return c.keys;
    const body = await new Promise<string>((resolve, reject) => {
      get(jwksUrl, { ca: this.#ca, timeout: 5000 }, (r) => {
        let s = '';
        r.setEncoding('utf8');
        r.on('data', (x: string) => (s += x));
        r.on('end', () =>
          r.statusCode === 200 ? resolve(s) : reject(new Error(`${jwksUrl}: HTTP ${r.statusCode}`)),
        );
      }).on('error', reject);
    });
    const keys = (JSON.parse(body) as { keys: { kid?: string }[] }).keys;
    this.#cache.set(jwksUrl, { keys, at: Date.now() });
    return keys;
  }
}

export class Entra {
  readonly #world: World;
  readonly #key: SigningKey;
  readonly #issuerKeys: IssuerKeys;

  constructor(world: World, key: SigningKey, issuerCa: Buffer | undefined) {
    this.#world = world;
    this.#key = key;
    this.#issuerKeys = new IssuerKeys(issuerCa);
  }

  get jwks(): { keys: unknown[] } {
    return { keys: [this.#key.jwk] };
  }

  /** An access token for `resource` in the v1 shape Key Vault accepts (iss sts.windows.net/<tid>/). */
  issue(principal: { clientId: string; objectId: string }, resource: string): { token: string; exp: number } {
    const now = nowSeconds();
    const tid = this.#world.config.tenantId;
    const exp = now + TOKEN_LIFETIME;
    const token = signJwt(
      {
        aud: this.#world.faults.tokenAudience ?? resource,
        iss: `https://sts.windows.net/${tid}/`,
        iat: now,
        nbf: now - 300,
        exp,
        appid: principal.clientId,
        appidacr: '1',
        idtyp: 'app',
        oid: principal.objectId,
        sub: principal.objectId,
        tid,
        ver: '1.0',
      },
      this.#key,
    );
    return { token, exp };
  }

  /** Routes of login.microsoftonline.com. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const [tenant = '', ...rest] = url.pathname.split('/').filter(Boolean);
    const path = rest.join('/');
    const tid = this.#world.config.tenantId;
    if (tenant === 'common' && path === 'discovery/instance') {
      json(res, 200, {
        tenant_discovery_endpoint: `https://${LOGIN_HOST}/${tid}/v2.0/.well-known/openid-configuration`,
        'api-version': '1.1',
        metadata: [
          {
            preferred_network: LOGIN_HOST,
            preferred_cache: 'login.windows.net',
            aliases: [LOGIN_HOST, 'login.windows.net', 'login.microsoft.com', 'sts.windows.net'],
          },
        ],
      });
      return;
    }
    if (tenant !== tid) {
      aadError(
        res,
        400,
        'invalid_request',
        90002,
        `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
      );
      return;
    }
    if (req.method === 'GET' && path === 'v2.0/.well-known/openid-configuration') {
      const base = `https://${LOGIN_HOST}/${tid}`;
      json(res, 200, {
        token_endpoint: `${base}/oauth2/v2.0/token`,
        token_endpoint_auth_methods_supported: [
          'client_secret_post',
          'private_key_jwt',
          'client_secret_basic',
        ],
        jwks_uri: `${base}/discovery/v2.0/keys`,
        response_modes_supported: ['query', 'fragment', 'form_post'],
        subject_types_supported: ['pairwise'],
        id_token_signing_alg_values_supported: ['RS256'],
        response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
        scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
        issuer: `${base}/v2.0`,
        authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
        end_session_endpoint: `${base}/oauth2/v2.0/logout`,
        tenant_region_scope: 'EU',
        cloud_instance_name: 'microsoftonline.com',
      });
      return;
    }
    if (req.method === 'GET' && path === 'discovery/v2.0/keys') {
      json(res, 200, this.jwks);
      return;
    }
    if (req.method === 'POST' && path === 'oauth2/v2.0/token') {
      await this.#token(res, new URLSearchParams(await readBody(req)));
      return;
    }
    json(res, 404, { error: 'not_found', error_description: `no route ${req.method ?? ''} ${url.pathname}` });
  }

  async #token(res: ServerResponse, form: URLSearchParams): Promise<void> {
    const tid = this.#world.config.tenantId;
    const clientId = form.get('client_id') ?? '';
    const scope = form.get('scope') ?? '';
    if (form.get('grant_type') !== 'client_credentials') {
      aadError(res, 400, 'unsupported_grant_type', 70003, 'The app requested an unsupported grant type.');
      return;
    }
    if (!scope.endsWith('/.default')) {
      aadError(
        res,
        400,
        'invalid_scope',
        1002012,
        `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
      );
      return;
    }
    const app = this.#world.appByClientId(clientId);
    if (!app) {
      aadError(
        res,
        400,
        'unauthorized_client',
        700016,
        `Application with identifier '${clientId}' was not found in the directory '${tid}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
      );
      return;
    }
    const secret = form.get('client_secret');
    const assertion = form.get('client_assertion');
    if (secret !== null) {
      if (app.secret === undefined || secret !== app.secret) {
        aadError(
          res,
          401,
          'invalid_client',
          7000215,
          `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${app.clientId}'.`,
        );
        return;
      }
    } else if (assertion !== null) {
      const problem = await this.#checkAssertion(app, assertion);
      if (problem) {
        aadError(res, problem.status, problem.error, problem.code, problem.description);
        return;
      }
    } else {
      aadError(
        res,
        401,
        'invalid_client',
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
      );
      return;
    }
    const { token } = this.issue(app, scope.slice(0, -'/.default'.length));
    json(res, 200, {
      token_type: 'Bearer',
      expires_in: TOKEN_LIFETIME,
      ext_expires_in: TOKEN_LIFETIME,
      access_token: token,
    });
  }

  /** A federated client assertion: a JWT of a trusted issuer, matching one of the app's federated credentials. */
  async #checkAssertion(
    app: { clientId: string; federated: { issuer: string; subject: string; audience: string }[] },
    assertion: string,
  ): Promise<{ status: number; error: string; code: number; description: string } | undefined> {
    const d = decodeJwt(assertion);
    const iss = typeof d?.claims['iss'] === 'string' ? d.claims['iss'] : '';
    const sub = typeof d?.claims['sub'] === 'string' ? d.claims['sub'] : '';
    const audClaim = d?.claims['aud'];
    const auds = Array.isArray(audClaim)
      ? (audClaim as string[])
      : typeof audClaim === 'string'
        ? [audClaim]
        : [];
    if (!d) {
      return {
        status: 400,
        error: 'invalid_client',
        code: 50027,
        description: 'JWT token is invalid or malformed.',
      };
    }
    const issuer = this.#world.config.trustedIssuers.find((i) => i.issuer === iss);
    if (!issuer) {
      return {
        status: 400,
        error: 'invalid_request',
        code: 70021,
        description: `No matching federated identity record found for presented assertion. Assertion Issuer: '${iss}'. Assertion Subject: '${sub}'. Assertion Audience: '${auds.join(',')}'. https://docs.microsoft.com/en-us/azure/active-directory/develop/workload-identity-federation`,
      };
    }
    let keys = await this.#issuerKeys.keys(issuer.jwksUrl, false).catch(() => []);
    if (!signatureValid(d, keys)) {
      keys = await this.#issuerKeys.keys(issuer.jwksUrl, true).catch(() => []);
      if (!signatureValid(d, keys)) {
        return {
          status: 401,
          error: 'invalid_client',
          code: 50013,
          description: `Assertion failed signature validation. [Reason - The key was not found., Thumbprint of key used by client: '${d.header.kid ?? ''}'; the keys of issuer '${iss}' were read from ${issuer.jwksUrl}]`,
        };
      }
    }
    const exp = typeof d.claims['exp'] === 'number' ? d.claims['exp'] : 0;
    if (exp <= nowSeconds()) {
      return {
        status: 400,
        error: 'invalid_client',
        code: 700024,
        description: 'Client assertion is not within its valid time range.',
      };
    }
    const match = app.federated.find(
      (f) => f.issuer === iss && f.subject === sub && auds.includes(f.audience),
    );
    if (!match) {
      return {
        status: 400,
        error: 'invalid_request',
        code: 70021,
        description: `No matching federated identity record found for presented assertion. Assertion Issuer: '${iss}'. Assertion Subject: '${sub}'. Assertion Audience: '${auds.join(',')}'. https://docs.microsoft.com/en-us/azure/active-directory/develop/workload-identity-federation`,
      };
    }
    return undefined;
  }

  /**
   * IMDS (`GET /metadata/identity/oauth2/token`, header `Metadata: true`) and App Service
   * (`GET /msi/token`, header `X-IDENTITY-HEADER`). Numbers are strings, as IMDS sends them; never 404
   * (the SDK retries 404 for ~25 s).
   */
  managedIdentity(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const appService = url.pathname === '/msi/token';
    if (appService) {
      if (req.headers['x-identity-header'] !== this.#world.config.appServiceHeader) {
        json(res, 401, {
          statusCode: 401,
          message: 'Unauthorized: the X-IDENTITY-HEADER is missing or wrong',
        });
        return;
      }
    } else if (req.headers['metadata'] !== 'true') {
      json(res, 400, {
        error: 'invalid_request',
        error_description: 'Required metadata header not specified',
      });
      return;
    }
    const resource = url.searchParams.get('resource');
    if (!url.searchParams.get('api-version') || !resource) {
      json(res, 400, {
        error: 'invalid_request',
        error_description: !resource
          ? 'Required query variable resource is missing'
          : 'Required query variable api-version is missing',
      });
      return;
    }
    const clientId = url.searchParams.get('client_id');
    const objectId = url.searchParams.get('object_id');
    const mis = this.#world.config.managedIdentities;
    const mi = clientId
      ? mis.find((m) => m.clientId === clientId)
      : objectId
        ? mis.find((m) => m.objectId === objectId)
        : mis.find((m) => m.systemAssigned);
    if (!mi) {
      json(res, 400, { error: 'invalid_request', error_description: 'Identity not found' });
      return;
    }
    const { token, exp } = this.issue(mi, resource.replace(/\/\.default$/, ''));
    const now = nowSeconds();
    json(res, 200, {
      access_token: token,
      ...(appService
        ? {}
        : { refresh_token: '', expires_in: String(exp - now), not_before: String(now - 300) }),
      expires_on: String(exp),
      resource,
      token_type: 'Bearer',
      client_id: mi.clientId,
    });
  }
}
