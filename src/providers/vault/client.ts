import { Sensitive, registerSecret } from '../../base/sensitive.ts';
import { RotatorError, type ErrorCode } from '../../errors.ts';
import { jsonBody, NetworkError, type ConnectionPool, type HttpResponse } from '../../net/http.ts';
import { requestWithRetry } from '../../net/retry.ts';

/** A Vault/OpenBao token and when it stops working. */
export interface VaultToken {
  token: Sensitive;
  /** Epoch ms; undefined for tokens without a TTL (root, or periodic tokens not yet looked up). */
  expiresAt: number | undefined;
  /** The TTL the token was issued or renewed with, in ms (0 when it has none). */
  ttlMs: number;
  renewable: boolean;
}

/** Obtains a fresh token (a login, or re-reading a token file). */
export type VaultLogin = (client: VaultClient) => Promise<VaultToken>;

export interface KvVersion {
  data: Record<string, unknown>;
  version: number;
  createdTime: Date | undefined;
}

export interface VaultClientOptions {
  storeName: string;
  address: string;
  namespace?: string | undefined;
  pool: ConnectionPool;
  timeoutMs: number;
  login: VaultLogin;
  now?: () => number;
}

interface AuthBlock {
  client_token?: string;
  lease_duration?: number;
  renewable?: boolean;
}

const errorsOf = (res: HttpResponse): string => {
  const body = jsonBody(res) as { errors?: unknown } | undefined;
  const list = Array.isArray(body?.errors)
    ? body.errors.filter((x): x is string => typeof x === 'string')
    : [];
  return list.join('; ').slice(0, 300);
};

/**
 * A small typed client for the parts of the Vault HTTP API the store uses (KV v2 read, token
 * lookup/renew, logins). Retries 429/5xx and network errors briefly; renews or re-logs in before the
 * token expires; re-logs in once when a token is refused.
 */
export class VaultClient {
  readonly #o: VaultClientOptions;
  #token: VaultToken | undefined;
  #now: () => number;

  constructor(options: VaultClientOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  #fail(code: ErrorCode, what: string, cause?: unknown): RotatorError {
    return new RotatorError(code, `store "${this.#o.storeName}" (vault ${this.#o.address}): ${what}`, {
      cause,
      retryable: code === 'STORE_UNREACHABLE' || code === 'STORE_UNAVAILABLE',
      details: { store: this.#o.storeName },
    });
  }

  /** A raw request (with our token unless `token` is null), retried on 429/5xx/network errors. */
  async raw(method: string, path: string, body?: unknown, token?: Sensitive | null): Promise<HttpResponse> {
    const headers: Record<string, string> = {};
    if (this.#o.namespace) headers['x-vault-namespace'] = this.#o.namespace;
    if (token) headers['x-vault-token'] = token.reveal();
    const url = `${this.#o.address.replace(/\/+$/, '')}/v1/${path.replace(/^\/+/, '')}`;
    let res: HttpResponse;
    try {
      res = await requestWithRetry(
        url,
        { method, headers, json: body, timeoutMs: this.#o.timeoutMs, pool: this.#o.pool },
        // A sealed server stays sealed until someone unseals it: not worth a retry.
        { attempts: 3, baseMs: 200, maxMs: 2000, retryAnswer: (r) => !/sealed/i.test(errorsOf(r)) },
      );
    } catch (e) {
      if (e instanceof NetworkError) throw this.#fail('STORE_UNREACHABLE', e.message, e);
      throw e;
    }
    if (res.status === 429 || res.status >= 500) {
      const why = errorsOf(res);
      // No `cause`: the HTTP answer is never kept on an error.
      if (/sealed/i.test(why))
        throw this.#fail('STORE_UNAVAILABLE', 'the server is sealed; unseal it and run again');
      throw this.#fail('STORE_UNAVAILABLE', `HTTP ${res.status} on ${path}${why ? `: ${why}` : ''}`);
    }
    return res;
  }

  /** Turns a login/renew response into a token, remembering the secret so it can never be printed. */
  tokenFrom(res: HttpResponse, what: string): VaultToken {
    const auth = (jsonBody(res) as { auth?: AuthBlock } | undefined)?.auth;
    if (res.status !== 200 || !auth?.client_token) {
      const why = errorsOf(res);
      const code: ErrorCode =
        res.status === 400 || res.status === 403 || res.status === 401 ? 'STORE_AUTH' : 'STORE_UNAVAILABLE';
      throw this.#fail(code, `${what} failed (HTTP ${res.status}${why ? `: ${why}` : ''})`);
    }
    registerSecret(auth.client_token);
    const ttl = auth.lease_duration ?? 0;
    return {
      token: new Sensitive(auth.client_token),
      expiresAt: ttl > 0 ? this.#now() + ttl * 1000 : undefined,
      ttlMs: ttl * 1000,
      renewable: auth.renewable === true,
    };
  }

  /** Looks up a token; used for static tokens (to learn the TTL) and to tell "bad token" from "no policy". */
  async lookupSelf(token: Sensitive): Promise<{ ttl: number; renewable: boolean } | undefined> {
    const res = await this.raw('GET', 'auth/token/lookup-self', undefined, token);
    if (res.status !== 200) return undefined;
    const data = (jsonBody(res) as { data?: { ttl?: number; renewable?: boolean } } | undefined)?.data;
    return { ttl: data?.ttl ?? 0, renewable: data?.renewable === true };
  }

  async #ensureToken(): Promise<Sensitive> {
    const t = this.#token;
    if (t !== undefined) {
      if (t.expiresAt === undefined) return t.token;
      const left = t.expiresAt - this.#now();
      // Renew once a third of the TTL (at most 30 s) is left; log in again if renewal is refused.
      if (left > Math.min(t.ttlMs / 3, 30_000)) return t.token;
      if (left > 500 && t.renewable) {
        const res = await this.raw('POST', 'auth/token/renew-self', {}, t.token);
        if (res.status === 200) {
          this.#token = this.tokenFrom(res, 'token renewal');
          return this.#token.token;
        }
      }
    }
    this.#token = await this.#o.login(this);
    return this.#token.token;
  }

  /** Forgets the token so the next request logs in again. */
  invalidate(): void {
    this.#token = undefined;
  }

  async #authed(method: string, path: string, body?: unknown): Promise<HttpResponse> {
    let res = await this.raw(method, path, body, await this.#ensureToken());
    if (res.status === 403 && this.#token && !(await this.lookupSelf(this.#token.token))) {
      // The token itself is no longer valid (revoked, expired early): log in once more and retry.
      this.invalidate();
      res = await this.raw(method, path, body, await this.#ensureToken());
    }
    return res;
  }

  /** Reads the current version of a KV v2 secret. */
  async readKv(mount: string, path: string): Promise<KvVersion> {
    const apiPath = `${mount}/data/${path}`;
    const res = await this.#authed('GET', apiPath);
    if (res.status === 404) {
      const err = this.#fail(
        'STORE_NOT_FOUND',
        `no secret at ${apiPath} (or its current version is deleted)`,
      );
      // A deleted current version still has its number (a write over it must name it for check-and-set).
      const deleted = (jsonBody(res) as { data?: { metadata?: { version?: unknown } } } | undefined)?.data
        ?.metadata?.version;
      if (typeof deleted === 'number') err.details['deletedVersion'] = deleted;
      throw err;
    }
    if (res.status === 403) {
      const valid = this.#token ? await this.lookupSelf(this.#token.token) : undefined;
      if (!valid)
        throw this.#fail(
          'STORE_AUTH',
          'the token was refused (expired or revoked) even after logging in again',
        );
      throw this.#fail(
        'STORE_PERMISSION',
        `permission denied for ${apiPath}: the token's policies do not allow "read" there`,
      );
    }
    if (res.status !== 200)
      throw this.#fail('STORE_UNAVAILABLE', `HTTP ${res.status} reading ${apiPath}: ${errorsOf(res)}`);
    const body = jsonBody(res) as
      | {
          data?: {
            data?: Record<string, unknown> | null;
            metadata?: {
              version?: number;
              created_time?: string;
              deletion_time?: string;
              destroyed?: boolean;
            };
          };
        }
      | undefined;
    const md = body?.data?.metadata;
    if (!body?.data?.data || md?.destroyed === true || (md?.deletion_time ?? '') !== '') {
      const err = this.#fail('STORE_NOT_FOUND', `the current version of ${apiPath} is deleted or destroyed`);
      if (typeof md?.version === 'number') err.details['deletedVersion'] = md.version;
      throw err;
    }
    const created = md?.created_time ? new Date(md.created_time) : undefined;
    return {
      data: body.data.data,
      version: md?.version ?? 0,
      createdTime: created && !Number.isNaN(created.getTime()) ? created : undefined,
    };
  }

  /** The names under a KV v2 folder (`path/`); none when it does not exist. Sub-folders end in `/`. */
  async listKv(mount: string, path: string): Promise<string[]> {
    const apiPath = `${mount}/metadata/${path.replace(/\/*$/, '/')}?list=true`;
    const res = await this.#authed('GET', apiPath);
    if (res.status === 404) return [];
    if (res.status === 403)
      throw this.#fail(
        'STORE_PERMISSION',
        `permission denied listing ${apiPath}: the token's policies must allow "list" there`,
      );
    if (res.status !== 200)
      throw this.#fail('STORE_UNAVAILABLE', `HTTP ${res.status} listing ${apiPath}: ${errorsOf(res)}`);
    const keys = (jsonBody(res) as { data?: { keys?: unknown } } | undefined)?.data?.keys;
    return Array.isArray(keys) ? keys.filter((k): k is string => typeof k === 'string') : [];
  }

  /**
   * Writes a new version of a KV v2 secret with check-and-set: `cas` is the version the caller read (0: the
   * secret must not exist yet). A version that moved on meanwhile → STORE_CONFLICT, nothing written.
   */
  async writeKv(mount: string, path: string, data: Record<string, string>, cas: number): Promise<KvVersion> {
    const apiPath = `${mount}/data/${path}`;
    const res = await this.#authed('POST', apiPath, { options: { cas }, data });
    if (res.status === 400 && /check-and-set/i.test(errorsOf(res)))
      throw this.#fail(
        'STORE_CONFLICT',
        `${apiPath} changed since it was read (check-and-set at version ${cas} refused); nothing was written`,
      );
    if (res.status === 403)
      throw this.#fail(
        'STORE_PERMISSION',
        `permission denied writing ${apiPath}: the token's policies must allow "create" and "update" there`,
      );
    if (res.status !== 200 && res.status !== 204)
      throw this.#fail('STORE_UNAVAILABLE', `HTTP ${res.status} writing ${apiPath}: ${errorsOf(res)}`);
    const md = (jsonBody(res) as { data?: { version?: number; created_time?: string } } | undefined)?.data;
    const created = md?.created_time ? new Date(md.created_time) : undefined;
    return {
      data,
      version: md?.version ?? cas + 1,
      createdTime: created && !Number.isNaN(created.getTime()) ? created : undefined,
    };
  }

  /** Authenticates (logging in if needed) and describes the token, for `validate --online`. */
  async describeAuth(): Promise<string> {
    const token = await this.#ensureToken();
    const info = await this.lookupSelf(token);
    if (!info) throw this.#fail('STORE_AUTH', 'the token was refused by auth/token/lookup-self');
    return info.ttl > 0
      ? `authenticated (token ttl ${info.ttl}s${info.renewable ? ', renewable' : ''})`
      : 'authenticated (token without expiry)';
  }

  get tokenExpiresAt(): number | undefined {
    return this.#token?.expiresAt;
  }
}
