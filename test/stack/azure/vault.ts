/**
 * The Key Vault secrets data plane, as Azure answers on the wire (AKV-FACTS §1–3): the challenge for an
 * unauthenticated request, token checks (signature, audience, issuer/tenant, lifetime) and RBAC before
 * anything else, then the secret operations with epoch-second times, 32-hex versions, ids on the vault's
 * own origin, absent fields left out, and Azure's error bodies.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LOGIN_HOST, json, readBody } from './entra.ts';
import { decodeJwt, nowSeconds, signatureValid, type Claims } from './jwt.ts';

const claim = (c: Claims, k: string): string => (typeof c[k] === 'string' ? c[k] : '');
import { newVersion, type Role, type SecretVersion, type StoredSecret, type World } from './model.ts';

/** Every api-version the 4.x SDKs send (4.7 → 7.4 … 4.12 → 2026-04-01), plus the older 7.x ones. */
export const API_VERSIONS = new Set([
  '7.0',
  '7.1',
  '7.2',
  '7.3',
  '7.4',
  '7.5',
  '7.6',
  '2025-07-01',
  '2026-04-01',
]);
const AUDIENCES = new Set([
  'https://vault.azure.net',
  'https://vault.azure.net/',
  'cfa8b339-82a2-471a-a3c9-0fc0be7a4093',
]);
const RECOVERY = { recoveryLevel: 'Recoverable+Purgeable', recoverableDays: 90 };
const NAME = /^[0-9a-zA-Z-]{1,127}$/;

type Action = 'getSecret' | 'readMetadata' | 'setSecret' | 'update' | 'delete' | 'purge';
const ALLOWED: Record<Role, readonly Action[]> = {
  'Key Vault Secrets User': ['getSecret', 'readMetadata'],
  'Key Vault Secrets Officer': ['getSecret', 'readMetadata', 'setSecret', 'update', 'delete', 'purge'],
};

const kvError = (code: string, message: string, inner?: string) => ({
  error: { code, message, ...(inner ? { innererror: { code: inner } } : {}) },
});

export class Vault {
  readonly #world: World;
  readonly #jwks: () => { keys: { kid?: string }[] };

  constructor(world: World, jwks: () => { keys: { kid?: string }[] }) {
    this.#world = world;
    this.#jwks = jwks;
  }

  get #challenge(): string {
    return `Bearer authorization="https://${LOGIN_HOST}/${this.#world.config.tenantId}", resource="https://vault.azure.net"`;
  }

  #send(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
    if (status === 204) {
      res.writeHead(204, this.#headers(res, extra)).end();
      return;
    }
    json(res, status, body, this.#headers(res, extra));
  }

  #headers(res: ServerResponse, extra: Record<string, string>): Record<string, string> {
    const req = (res as ServerResponse & { req: IncomingMessage }).req;
    const echo = req.headers['x-ms-client-request-id'];
    return {
      pragma: 'no-cache',
      expires: '-1',
      'strict-transport-security': 'max-age=31536000;includeSubDomains',
      'x-content-type-options': 'nosniff',
      'x-ms-request-id': crypto.randomUUID(),
      'x-ms-keyvault-region': 'westeurope',
      'x-ms-keyvault-service-version': '1.9.2712.1',
      ...(typeof echo === 'string' ? { 'x-ms-client-request-id': echo } : {}),
      ...extra,
    };
  }

  /** 401 with the challenge (every 401 carries it, as Azure's do). */
  #unauthorized(res: ServerResponse, message: string): number {
    this.#send(res, 401, kvError('Unauthorized', message), { 'www-authenticate': this.#challenge });
    return 401;
  }

  /** Who is calling, or the 401 already sent. */
  #authenticate(req: IncomingMessage, res: ServerResponse): { oid: string; appid: string } | number {
    const h = req.headers.authorization;
    if (!h || !/^Bearer\s+\S/i.test(h))
      return this.#unauthorized(res, 'AKV10000: Request is missing a Bearer or PoP token.');
    const raw = h.replace(/^Bearer\s+/i, '');
    const d = decodeJwt(raw);
    if (!d || !signatureValid(d, this.#jwks().keys)) {
      const header = raw.split('.')[0] ?? '';
      return this.#unauthorized(
        res,
        `AKV10046: Unable to resolve the key used for signature validation. EncodedJwtHeader: '${header}'.`,
      );
    }
    const aud = claim(d.claims, 'aud');
    if (!AUDIENCES.has(aud))
      return this.#unauthorized(
        res,
        `AKV10022: Invalid audience. Expected https://vault.azure.net, found: ${aud}.`,
      );
    const tid = this.#world.config.tenantId;
    const iss = claim(d.claims, 'iss');
    if (iss !== `https://sts.windows.net/${tid}/` || d.claims['tid'] !== tid)
      return this.#unauthorized(
        res,
        `AKV10032: Invalid issuer. Expected one of https://sts.windows.net/${tid}/, found ${iss}.`,
      );
    const now = nowSeconds();
    const exp = Number(d.claims['exp'] ?? 0);
    const nbf = Number(d.claims['nbf'] ?? 0);
    if (exp <= now) return this.#unauthorized(res, 'Error validating token: IDX10223');
    if (nbf > now + 300) return this.#unauthorized(res, 'Token not yet valid');
    return { oid: claim(d.claims, 'oid'), appid: claim(d.claims, 'appid') };
  }

  async handle(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    vault: string,
    host: string,
  ): Promise<number> {
    const apiVersion = url.searchParams.get('api-version');
    if (apiVersion === null)
      return this.#fail(
        res,
        400,
        'BadParameter',
        'The api-version query parameter is required and was not provided.',
      );
    if (!API_VERSIONS.has(apiVersion))
      return this.#fail(
        res,
        400,
        'BadParameter',
        `The specified version (${apiVersion}) is not recognized. Consider using the latest supported version (2026-04-01).`,
      );
    const caller = this.#authenticate(req, res);
    if (typeof caller === 'number') return caller;

    const segs = url.pathname.split('/').slice(1); // '', trailing '' kept: /secrets/a/ → ['secrets','a','']
    const method = req.method ?? 'GET';
    const route = this.#route(method, segs);
    if (!route) {
      if (segs[0] === 'secrets' && (segs[1] ?? '') === '' && method === 'PUT')
        return this.#fail(res, 405, 'MethodNotAllowed', `HTTP ${method} not allowed`);
      return this.#fail(res, 404, 'NotFound', `The request URI ${url.pathname} is not valid.`);
    }
    const role = this.#world.roleOf(caller.oid, vault);
    if (!role || !ALLOWED[role].includes(route.action)) {
      const tid = this.#world.config.tenantId;
      return this.#fail(
        res,
        403,
        'Forbidden',
        `Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: appid=${caller.appid};oid=${caller.oid};iss=https://sts.windows.net/${tid}/\r\nAction: 'Microsoft.KeyVault/vaults/secrets/${route.action}/action'\r\nResource: '/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/regcred-stack/providers/microsoft.keyvault/vaults/${vault}/secrets/${route.name ?? ''}'\r\nAssignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: null \r\nVault: ${vault};location=westeurope\r\n`,
        'ForbiddenByRbac',
      );
    }
    const secrets = this.#world.vaults.get(vault)!;
    const base = `https://${host}`;
    switch (route.op) {
      case 'get':
        return this.#get(res, secrets, base, route.name!, route.version ?? '');
      case 'set':
        return this.#set(res, secrets, base, route.name!, await readBody(req));
      case 'update':
        return this.#update(res, secrets, base, route.name!, route.version ?? '', await readBody(req));
      case 'list':
        return this.#list(
          res,
          url,
          base,
          apiVersion,
          [...secrets.values()].filter((s) => !s.deletedDate),
          undefined,
        );
      case 'versions': {
        const s = secrets.get(route.name!);
        if (!s || s.deletedDate) return this.#notFound(res, route.name!);
        return this.#list(res, url, base, apiVersion, [s], s);
      }
      case 'delete':
        return this.#delete(res, secrets, base, route.name!);
      case 'get-deleted':
      case 'purge': {
        const s = secrets.get(route.name!);
        if (!s?.deletedDate)
          return this.#fail(res, 404, 'SecretNotFound', `Deleted Secret not found: ${route.name!}`);
        if (route.op === 'purge') {
          secrets.delete(route.name!);
          this.#send(res, 204, undefined);
          return 204;
        }
        this.#send(res, 200, this.#deletedBundle(base, s));
        return 200;
      }
    }
  }

  #route(
    method: string,
    segs: string[],
  ):
    | {
        op: 'get' | 'set' | 'update' | 'list' | 'versions' | 'delete' | 'get-deleted' | 'purge';
        action: Action;
        name?: string;
        version?: string;
      }
    | undefined {
    const [kind, name, third, fourth] = segs;
    const named = name !== undefined && name !== '';
    if (kind === 'secrets') {
      if (!named && method === 'GET') return { op: 'list', action: 'readMetadata' };
      if (!named) return undefined;
      if (third === 'versions' && (fourth === undefined || fourth === '') && method === 'GET')
        return { op: 'versions', action: 'readMetadata', name };
      if (segs.length > 4) return undefined;
      if (method === 'GET') return { op: 'get', action: 'getSecret', name, version: third ?? '' };
      if (method === 'PUT' && (third === undefined || third === ''))
        return { op: 'set', action: 'setSecret', name };
      if (method === 'PATCH') return { op: 'update', action: 'update', name, version: third ?? '' };
      if (method === 'DELETE' && (third === undefined || third === ''))
        return { op: 'delete', action: 'delete', name };
    }
    if (kind === 'deletedsecrets' && named && (third === undefined || third === '')) {
      if (method === 'GET') return { op: 'get-deleted', action: 'readMetadata', name };
      if (method === 'DELETE') return { op: 'purge', action: 'purge', name };
    }
    return undefined;
  }

  #fail(res: ServerResponse, status: number, code: string, message: string, inner?: string): number {
    this.#send(res, status, kvError(code, message, inner));
    return status;
  }

  #notFound(res: ServerResponse, name: string): number {
    return this.#fail(
      res,
      404,
      'SecretNotFound',
      `A secret with (name/id) ${name} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
    );
  }

  #attributes(v: SecretVersion): Record<string, unknown> {
    return {
      enabled: v.enabled,
      ...(v.nbf !== undefined ? { nbf: v.nbf } : {}),
      ...(v.exp !== undefined ? { exp: v.exp } : {}),
      created: v.created,
      updated: v.updated,
      ...RECOVERY,
    };
  }

  #bundle(base: string, s: StoredSecret, v: SecretVersion, withValue: boolean): Record<string, unknown> {
    return {
      ...(withValue ? { value: v.value } : {}),
      ...(v.contentType !== undefined ? { contentType: v.contentType } : {}),
      id: `${base}/secrets/${s.name}/${v.version}`,
      attributes: this.#attributes(v),
      ...(v.tags !== undefined ? { tags: v.tags } : {}),
    };
  }

  #deletedBundle(base: string, s: StoredSecret): Record<string, unknown> {
    const v = s.versions.at(-1)!;
    return {
      recoveryId: `${base}/deletedsecrets/${s.name}`,
      deletedDate: s.deletedDate,
      scheduledPurgeDate: (s.deletedDate ?? 0) + 90 * 86400,
      ...this.#bundle(base, s, v, false),
    };
  }

  #find(
    secrets: Map<string, StoredSecret>,
    name: string,
    version: string,
  ): { s: StoredSecret; v: SecretVersion } | undefined {
    const s = secrets.get(name);
    if (!s || s.deletedDate) return undefined;
    const v = version === '' ? s.versions.at(-1) : s.versions.find((x) => x.version === version);
    return v ? { s, v } : undefined;
  }

  /** Expired and not-yet-valid secrets are returned (Azure does); only a disabled one is refused. */
  #get(
    res: ServerResponse,
    secrets: Map<string, StoredSecret>,
    base: string,
    name: string,
    version: string,
  ): number {
    const f = this.#find(secrets, name, version);
    if (!f) return this.#notFound(res, name);
    if (!f.v.enabled)
      return this.#fail(
        res,
        403,
        'Forbidden',
        'Operation get is not allowed on a disabled secret.',
        'SecretDisabled',
      );
    this.#send(res, 200, this.#bundle(base, f.s, f.v, true));
    return 200;
  }

  #set(
    res: ServerResponse,
    secrets: Map<string, StoredSecret>,
    base: string,
    name: string,
    text: string,
  ): number {
    if (!NAME.test(name))
      return this.#fail(res, 400, 'BadParameter', `The request URI contains an invalid name: ${name}`);
    let body: {
      value?: unknown;
      tags?: Record<string, string>;
      contentType?: string;
      attributes?: { enabled?: boolean; nbf?: number; exp?: number };
    };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      return this.#fail(res, 400, 'BadParameter', 'The request content is not valid JSON.');
    }
    if (typeof body.value !== 'string')
      return this.#fail(res, 400, 'BadParameter', 'Property value is required.');
    const existing = secrets.get(name);
    if (existing?.deletedDate)
      return this.#fail(
        res,
        409,
        'Conflict',
        `Secret ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.`,
        'ObjectIsDeletedButRecoverable',
      );
    const now = nowSeconds();
    const v: SecretVersion = {
      version: newVersion(),
      value: body.value,
      contentType: body.contentType,
      tags: body.tags,
      enabled: body.attributes?.enabled ?? true,
      nbf: body.attributes?.nbf,
      exp: body.attributes?.exp,
      created: now,
      updated: now,
    };
    const s = existing ?? { name, versions: [] };
    s.versions.push(v);
    secrets.set(name, s);
    this.#send(res, 200, this.#bundle(base, s, v, true));
    return 200;
  }

  #update(
    res: ServerResponse,
    secrets: Map<string, StoredSecret>,
    base: string,
    name: string,
    version: string,
    text: string,
  ): number {
    const f = this.#find(secrets, name, version);
    if (!f) return this.#notFound(res, name);
    let body: {
      tags?: Record<string, string>;
      contentType?: string;
      attributes?: { enabled?: boolean; nbf?: number; exp?: number };
    };
    try {
      body = JSON.parse(text || '{}') as typeof body;
    } catch {
      return this.#fail(res, 400, 'BadParameter', 'The request content is not valid JSON.');
    }
    const a = body.attributes ?? {};
    if (a.enabled !== undefined) f.v.enabled = a.enabled;
    if (a.nbf !== undefined) f.v.nbf = a.nbf;
    if (a.exp !== undefined) f.v.exp = a.exp;
    if (body.tags !== undefined) f.v.tags = body.tags;
    if (body.contentType !== undefined) f.v.contentType = body.contentType;
    f.v.updated = nowSeconds();
    this.#send(res, 200, this.#bundle(base, f.s, f.v, false));
    return 200;
  }

  #delete(res: ServerResponse, secrets: Map<string, StoredSecret>, base: string, name: string): number {
    const s = secrets.get(name);
    if (!s || s.deletedDate) return this.#notFound(res, name);
    s.deletedDate = nowSeconds();
    this.#send(res, 200, this.#deletedBundle(base, s));
    return 200;
  }

  /**
   * Secret listing or one secret's versions: items without values, `maxresults` 1–25 (25 by default), an
   * absolute nextLink with :443 and an opaque $skiptoken, `null` on the last page.
   */
  #list(
    res: ServerResponse,
    url: URL,
    base: string,
    apiVersion: string,
    all: StoredSecret[],
    versionsOf: StoredSecret | undefined,
  ): number {
    const maxParam = url.searchParams.get('maxresults');
    const max = maxParam === null ? 25 : Number(maxParam);
    if (!Number.isInteger(max) || max < 1 || max > 25)
      return this.#fail(res, 400, 'BadParameter', 'The value of maxresults must be between 1 and 25.');
    const skip = url.searchParams.get('$skiptoken');
    let start = 0;
    if (skip !== null) {
      try {
        start = (JSON.parse(Buffer.from(skip, 'base64url').toString('utf8')) as { NextMarker: number })
          .NextMarker;
      } catch {
        return this.#fail(res, 400, 'BadParameter', 'The $skiptoken is not valid.');
      }
    }
    const items = versionsOf
      ? versionsOf.versions.map((v) => ({ ...this.#bundle(base, versionsOf, v, false) }))
      : all
          .sort((a, b) => (a.name < b.name ? -1 : 1))
          .map((s) => {
            const v = s.versions.at(-1)!;
            const b = this.#bundle(base, s, v, false);
            return { ...b, id: `${base}/secrets/${s.name}` };
          });
    if (versionsOf) items.reverse(); // not chronological, as real listings are not
    const page = items.slice(start, start + max);
    const next = start + max < items.length ? start + max : undefined;
    const path = versionsOf ? `/secrets/${versionsOf.name}/versions` : '/secrets';
    const origin = base.includes(':', 'https://'.length) ? base : `${base}:443`;
    const token =
      next === undefined ? '' : Buffer.from(JSON.stringify({ NextMarker: next })).toString('base64url');
    this.#send(res, 200, {
      value: page,
      nextLink:
        next === undefined
          ? null
          : `${origin}${path}?api-version=${apiVersion}&$skiptoken=${token}${maxParam === null ? '' : `&maxresults=${max}`}`,
    });
    return 200;
  }
}
