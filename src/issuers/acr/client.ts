import { randomUUID } from 'node:crypto';
import type { AccessToken, TokenCredential } from '@azure/identity';
import { registerSecret } from '../../base/sensitive.ts';
import { withRetry } from '../../base/retry.ts';
import {
  httpRequest,
  jsonBody,
  NetworkError,
  type ConnectionPool,
  type HttpResponse,
} from '../../net/http.ts';
import { ArmError, armError } from './arm-error.ts';
import { awaitResult, awaitStatus } from './operations.ts';

export { ArmError } from './arm-error.ts';

/** What @azure/arm-containerregistry 11 and 12 send; every version since 2022-12-01 has the same token shapes. */
export const API_VERSION = '2025-11-01';
const MAX_RETRY_AFTER_MS = 60_000;

export interface ArmClientOptions {
  /** ARM's origin, e.g. https://management.azure.com. */
  endpoint: string;
  /** The token scope, `<audience>/.default`. */
  scope: string;
  credential: () => Promise<TokenCredential>;
  timeoutMs: number;
  pool: ConnectionPool;
}

const transient = (s: number) => s === 408 || (s >= 500 && s !== 501 && s !== 505);

/**
 * The few ARM calls the ACR issuer makes, over the project's HTTP client with a token from
 * `@azure/identity`: GET, PATCH (a keep-set: safe to resend) and POST generateCredentials (never resent
 * once it may have reached ARM: each accepted POST regenerates the slot), each
 * following ARM's long-running answers (201/202 + Azure-AsyncOperation or Location).
 *
 * Why not `@azure/arm-containerregistry` (measured with bench/acr-client.ts, Node 24, 15 fresh processes
 * per variant, medians of two runs on a loaded 2-core machine): on top of `@azure/identity`, which both
 * need, the SDK costs 30 ms more CPU to import (this client, bundled: 1–9 ms), 1.5–3 MB more RSS after
 * the first GET, 40–65 ms more on that first GET, and 8 MB more on disk (the whole registry management
 * surface, four builds). It would also resend generateCredentials on 5xx and poll no faster than once a
 * second, so the one call that matters would need its own pipeline settings anyway.
 */
export class ArmClient {
  readonly #o: ArmClientOptions;
  #token: AccessToken | undefined;

  constructor(options: ArmClientOptions) {
    this.#o = options;
  }

  async #bearer(fresh: boolean): Promise<string> {
    const t = this.#token;
    if (!fresh && t && t.expiresOnTimestamp - Date.now() > 120_000) return t.token;
    let token: AccessToken | null;
    try {
      const credential = await this.#o.credential();
      token = await credential.getToken(this.#o.scope, {
        abortSignal: AbortSignal.timeout(this.#o.timeoutMs),
      });
    } catch (e) {
      throw new ArmError((e as Error).message, { code: 'identity', cause: e });
    }
    if (token === null) throw new ArmError('the credential returned no token', { code: 'identity' });
    registerSecret(token.token);
    this.#token = token;
    return token.token;
  }

  /** One exchange; a 401 on a cached token is tried once more with a fresh one. */
  async #send(method: string, url: string, body: unknown, requestId: string): Promise<HttpResponse> {
    for (const fresh of [false, true]) {
      const headers: Record<string, string> = {
        accept: 'application/json',
        authorization: `Bearer ${await this.#bearer(fresh)}`,
        'x-ms-client-request-id': requestId,
        'user-agent': 'regcred-rotator',
      };
      if (body !== undefined) headers['content-type'] = 'application/json';
      const res = await httpRequest(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        timeoutMs: this.#o.timeoutMs,
        pool: this.#o.pool,
      });
      if (res.status !== 401 || fresh) return res;
    }
    throw new Error('unreachable');
  }

  /**
   * A request with retries: 429 always (ARM throttles before doing anything); 408/5xx and lost answers
   * only when resending is harmless. The same client request id on every attempt, as the SDKs do.
   */
  async #request(method: string, url: string, body: unknown, resend: boolean): Promise<HttpResponse> {
    const requestId = randomUUID();
    return withRetry(
      async () => {
        let res: HttpResponse;
        try {
          res = await this.#send(method, url, body, requestId);
        } catch (e) {
          if (!(e instanceof NetworkError)) throw e;
          const sent = e.kind === 'timeout' || e.kind === 'reset' || e.kind === 'other';
          throw new ArmError(e.message, {
            code: `network:${e.kind}`,
            maybeApplied: sent && !resend,
            cause: e,
          });
        }
        if (res.status < 400) return res;
        throw armError(res, transient(res.status) && !resend);
      },
      {
        attempts: 4,
        baseMs: 500,
        maxMs: 8000,
        decide: (e) => {
          if (!(e instanceof ArmError)) return { retry: false };
          if (e.status === 429)
            return { retry: (e.retryAfterMs ?? 0) <= MAX_RETRY_AFTER_MS, afterMs: e.retryAfterMs };
          if (!resend) return { retry: false };
          if (e.status !== undefined) return { retry: transient(e.status), afterMs: e.retryAfterMs };
          return { retry: e.code !== 'identity' && e.code !== 'network:tls' && e.code !== 'network:dns' };
        },
      },
    );
  }

  #url(path: string): string {
    return `${this.#o.endpoint}${path}?api-version=${API_VERSION}`;
  }

  /** Our bearer token goes only to ARM's own origin, whatever a polling header says. */
  #pollUrl(v: string | null): string | undefined {
    if (v === null) return undefined;
    if (new URL(v).origin !== new URL(this.#o.endpoint).origin)
      throw new ArmError(`ARM asked to poll ${new URL(v).origin}, not ${this.#o.endpoint}`, {
        code: 'ForeignPollingUrl',
        maybeApplied: true,
      });
    return v;
  }

  #poll(url: string): Promise<HttpResponse> {
    return this.#request('GET', url, undefined, true);
  }

  /** Long-running operations get the longer of a minute and four request timeouts. */
  #deadline(): number {
    return Date.now() + Math.max(60_000, 4 * this.#o.timeoutMs);
  }

  async get(path: string): Promise<unknown> {
    return jsonBody(await this.#request('GET', this.#url(path), undefined, true));
  }

  /** PATCH, then the resource as it is once the operation finished. */
  async patch(path: string, body: unknown): Promise<unknown> {
    const res = await this.#request('PATCH', this.#url(path), body, true);
    if (res.status === 200) return jsonBody(res);
    const ao = this.#pollUrl(res.headers.get('azure-asyncoperation'));
    const location = this.#pollUrl(res.headers.get('location'));
    if (ao) await awaitStatus((u) => this.#poll(u), ao, res, this.#deadline());
    else if (location) await awaitResult((u) => this.#poll(u), location, res, this.#deadline());
    else return jsonBody(res);
    return this.get(path);
  }

  /** POST that must not be resent; the result body once the operation finished. */
  async post(path: string, body: unknown): Promise<unknown> {
    const res = await this.#request('POST', this.#url(path), body, false);
    if (res.status === 200) return jsonBody(res);
    try {
      const ao = this.#pollUrl(res.headers.get('azure-asyncoperation'));
      const location = this.#pollUrl(res.headers.get('location'));
      if (ao) await awaitStatus((u) => this.#poll(u), ao, res, this.#deadline());
      if (location) return await awaitResult((u) => this.#poll(u), location, res, this.#deadline());
    } catch (e) {
      if (e instanceof ArmError)
        throw new ArmError(e.message, {
          status: e.status,
          code: e.code,
          retryAfterMs: e.retryAfterMs,
          maybeApplied: true,
          cause: e.cause,
        });
      throw e;
    }
    throw new ArmError(`ARM answered HTTP ${res.status} without a way to fetch the result`, {
      status: res.status,
      code: 'NoOperationResult',
      maybeApplied: true,
    });
  }
}
