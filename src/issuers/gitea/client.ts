import type { Logger } from '../../base/logger.ts';
import { Sensitive } from '../../base/sensitive.ts';
import { jsonBody, NetworkError, type ConnectionPool, type HttpResponse } from '../../net/http.ts';
import { requestWithRetry } from '../../net/retry.ts';
import { malformed, refusal, unreachable, type Operation } from './errors.ts';

/** One access token as Gitea lists it (never its value). */
export interface GiteaToken {
  id: number;
  name: string;
  scopes: string[];
  /** When it was created; absent from answers of servers that do not send it. */
  created: Date | undefined;
  /** `last_used_at`: Gitea bumps it whenever the token authenticates. */
  lastUsed: Date | undefined;
}

export interface GiteaClientOptions {
  /** Server URL without a trailing slash. */
  url: string;
  login: string;
  /** Reads the login's password (or token); called again once after a 401, in case it was rotated. */
  password: () => Promise<Sensitive>;
  pool: ConnectionPool;
  timeoutMs: number;
  logger: Logger;
  /** Attempts per request on 429/5xx/network errors (default 3). */
  attempts?: number;
}

const PAGE = 50; // Gitea's default MAX_RESPONSE_ITEMS
const date = (v: unknown): Date | undefined => {
  const d = typeof v === 'string' ? new Date(v) : undefined;
  return d && !Number.isNaN(d.getTime()) && d.getTime() > 0 ? d : undefined;
};

/**
 * The part of Gitea's REST API the token issuer uses: list, create and delete a user's access tokens with
 * Basic auth (the only scheme Gitea accepts there). 429/5xx and network errors are retried with backoff,
 * honouring Retry-After; every other answer is the caller's to judge.
 */
export class GiteaClient {
  readonly #o: GiteaClientOptions;
  #password: Sensitive | undefined;

  constructor(options: GiteaClientOptions) {
    this.#o = options;
  }

  op(action: string, user: string): Operation {
    return { url: this.#o.url, action, user, login: this.#o.login };
  }

  async #basic(): Promise<string> {
    this.#password ??= await this.#o.password();
    const pair = `${this.#o.login}:${this.#password.reveal()}`;
    return `Basic ${Buffer.from(pair, 'utf8').toString('base64')}`;
  }

  async #send(method: string, path: string, op: Operation, body?: unknown): Promise<HttpResponse> {
    const authorization = await this.#basic();
    try {
      return await requestWithRetry(
        `${this.#o.url}/api/v1${path}`,
        { method, headers: { authorization }, json: body, timeoutMs: this.#o.timeoutMs, pool: this.#o.pool },
        {
          attempts: this.#o.attempts ?? 3,
          baseMs: 250,
          maxMs: 4000,
          onRetry: (e, attempt, delayMs) =>
            this.#o.logger.warn(
              {
                url: this.#o.url,
                action: op.action,
                attempt,
                delayMs: Math.round(delayMs),
                error: String(e),
              },
              'gitea request retried',
            ),
        },
      );
    } catch (e) {
      if (e instanceof NetworkError) throw unreachable(e, op);
      throw e;
    }
  }

  /** A request as the login; a 401 re-reads the password once (it may have been rotated in the store). */
  async request(method: string, path: string, op: Operation, body?: unknown): Promise<HttpResponse> {
    const res = await this.#send(method, path, op, body);
    const used = this.#password;
    if (res.status !== 401 || used === undefined) return res;
    this.#password = await this.#o.password();
    return this.#password.equals(used) ? res : this.#send(method, path, op, body);
  }

  /** Every token of `user`, page by page. */
  async listTokens(user: string): Promise<GiteaToken[]> {
    const op = this.op(`list the tokens of user "${user}"`, user);
    const out: GiteaToken[] = [];
    for (let page = 1; page <= 200; page++) {
      const res = await this.request('GET', `${tokensPath(user)}?page=${page}&limit=${PAGE}`, op);
      if (res.status !== 200) throw refusal(res, op);
      const items = jsonBody(res);
      if (!Array.isArray(items)) throw malformed(op, 'the token list is not a JSON array');
      for (const t of items as Record<string, unknown>[]) {
        if (typeof t['id'] !== 'number' || typeof t['name'] !== 'string') continue;
        out.push({
          id: t['id'],
          name: t['name'],
          scopes: Array.isArray(t['scopes']) ? t['scopes'].filter((s) => typeof s === 'string') : [],
          created: date(t['created_at']),
          lastUsed: date(t['last_used_at']),
        });
      }
      const total = Number(res.headers.get('x-total-count') ?? Number.NaN);
      if (items.length < PAGE || (Number.isFinite(total) && out.length >= total)) break;
    }
    return out;
  }

  /**
   * Creates a token; Gitea shows its value in this answer only. Returns undefined when the name is taken
   * (HTTP 400 "has been used already"), so the caller can tell a lost earlier attempt from other refusals.
   */
  async createToken(
    user: string,
    name: string,
    scopes: string[],
  ): Promise<{ id: number; value: Sensitive } | undefined> {
    const op = this.op(`create token "${name}" for user "${user}"`, user);
    const res = await this.request('POST', tokensPath(user), op, { name, scopes });
    if (res.status === 400 && /has been used already/i.test(res.text)) return undefined;
    if (res.status !== 201) throw refusal(res, op);
    const body = jsonBody(res) as { id?: unknown; sha1?: unknown } | undefined;
    if (typeof body?.sha1 !== 'string' || body.sha1 === '' || typeof body.id !== 'number')
      throw malformed(op, 'HTTP 201 without the token id and value');
    return { id: body.id, value: new Sensitive(body.sha1) };
  }

  /** Deletes a token by id (or by name); false when it does not exist (any more). */
  async deleteToken(user: string, idOrName: string, what: string): Promise<boolean> {
    const op = this.op(`delete ${what} of user "${user}"`, user);
    const res = await this.request('DELETE', `${tokensPath(user)}/${encodeURIComponent(idOrName)}`, op);
    if (res.status === 204) return true;
    if (res.status === 404 && (await this.userExists(user))) return false;
    throw refusal(res, op);
  }

  /** Whether `user` exists (a 404 on a token route means either a missing token or a missing user). */
  async userExists(user: string): Promise<boolean> {
    const op = this.op(`look up user "${user}"`, user);
    const res = await this.request('GET', `/users/${encodeURIComponent(user)}`, op);
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw refusal(res, op);
  }

  /** The login's own account: proves the credentials and tells whether they are a site admin's. */
  async whoami(): Promise<{ login: string; isAdmin: boolean }> {
    const op = this.op('sign in', this.#o.login);
    const res = await this.request('GET', '/user', op);
    if (res.status !== 200) throw refusal(res, op);
    const body = jsonBody(res) as { login?: unknown; is_admin?: unknown } | undefined;
    return { login: typeof body?.login === 'string' ? body.login : '', isAdmin: body?.is_admin === true };
  }
}

const tokensPath = (user: string): string => `/users/${encodeURIComponent(user)}/tokens`;
