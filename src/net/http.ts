import { readFileSync } from 'node:fs';
import type * as http from 'node:http';
import * as https from 'node:https';
import { withRetry } from '../base/retry.ts';

/**
 * node:http through the CommonJS loader: importing it as an ES module evaluates every lazy export,
 * which loads Node's bundled fetch and WebSocket (~70 ms at start-up) for nothing.
 */
const plainHttp = (): typeof http => process.getBuiltinModule('node:http');

/** Why a request got no HTTP answer, in words an operator can act on. */
export type NetworkFailure = 'timeout' | 'aborted' | 'refused' | 'dns' | 'tls' | 'reset' | 'other';

export class NetworkError extends Error {
  readonly kind: NetworkFailure;
  constructor(kind: NetworkFailure, message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'NetworkError';
    this.kind = kind;
  }
}

/** Keep-alive connections for one server's requests; `undefined` in `HttpOptions` means Node's global agents. */
export class ConnectionPool {
  readonly #https: https.Agent;
  #http: http.Agent | undefined;

  /** Trusts only the CA in `caFile`, or the default roots plus NODE_EXTRA_CA_CERTS. */
  constructor(caFile?: string) {
    const ca = caFile === undefined ? undefined : readFileSync(caFile, 'utf8');
    this.#https = new https.Agent({ keepAlive: true, ...(ca === undefined ? {} : { ca }) });
  }

  agentFor(url: URL): http.Agent {
    if (url.protocol === 'https:') return this.#https;
    this.#http ??= new (plainHttp().Agent)({ keepAlive: true });
    return this.#http;
  }

  close(): void {
    this.#https.destroy();
    this.#http?.destroy();
  }
}

export interface HttpOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** A hard limit over the whole exchange; 0 for none (a watch stream is long). */
  timeoutMs: number;
  pool?: ConnectionPool | undefined;
  /** An agent of the caller's own (the Kubernetes client's: its CA, client certificate, socket limit). */
  agent?: http.Agent | undefined;
  /** Stops the request (it then fails as an `aborted` NetworkError). */
  signal?: AbortSignal | undefined;
}

/** The response headers, looked up case-insensitively like `fetch`'s `Headers`. */
export interface ResponseHeaders {
  get(name: string): string | null;
}

export interface HttpResponse {
  status: number;
  headers: ResponseHeaders;
  text: string;
}

class Timeout extends Error {
  override readonly name = 'TimeoutError';
}

function classify(e: unknown, url: string, timeoutMs: number): NetworkError {
  if (e instanceof Timeout)
    return new NetworkError('timeout', `no answer from ${url} within ${timeoutMs} ms`, e);
  if (e instanceof Error && e.name === 'AbortError')
    return new NetworkError('aborted', `request to ${new URL(url).host} stopped`, e);
  const code = (e as { code?: unknown }).code;
  const c = typeof code === 'string' ? code : '';
  const host = new URL(url).host;
  if (c === 'ECONNREFUSED')
    return new NetworkError('refused', `connection to ${host} refused (is it running?)`, e);
  if (c === 'ENOTFOUND' || c === 'EAI_AGAIN')
    return new NetworkError('dns', `cannot resolve host ${host}`, e);
  if (c === 'ECONNRESET' || c === 'EPIPE')
    return new NetworkError('reset', `connection to ${host} was reset`, e);
  if (c === 'ETIMEDOUT') return new NetworkError('timeout', `connecting to ${host} timed out`, e);
  if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY/.test(c)) {
    return new NetworkError(
      'tls',
      `TLS with ${host} failed (${c}): trust its CA with NODE_EXTRA_CA_CERTS or the store's caFile`,
      e,
    );
  }
  return new NetworkError('other', `request to ${host} failed${c ? ` (${c})` : ''}`, e);
}

function headersOf(h: http.IncomingHttpHeaders): ResponseHeaders {
  return {
    get: (name) => {
      const v = h[name.toLowerCase()];
      return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
    },
  };
}

/**
 * One exchange. With `onLine`, a successful answer (< 400) is handed over line by line as it arrives (its
 * `text` is then empty); an error answer is always read whole.
 */
function send(url: URL, opts: HttpOptions, onLine?: (line: string) => void): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    let timedOut = false;
    const fail = (e: Error): void => reject(timedOut ? new Timeout() : e);
    const lib = url.protocol === 'https:' ? https : plainHttp();
    const req = lib.request(url, {
      method: opts.method ?? 'GET',
      headers: opts.headers,
      agent: opts.agent ?? opts.pool?.agentFor(url),
      signal: opts.signal,
    });
    const timer =
      opts.timeoutMs > 0
        ? setTimeout(() => {
            timedOut = true;
            req.destroy(new Timeout());
          }, opts.timeoutMs)
        : undefined;
    req.on('close', () => clearTimeout(timer));
    req.on('error', fail);
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      const done = (text: string) => resolve({ status, headers: headersOf(res.headers), text });
      res.on('error', fail);
      if (onLine && status < 400) {
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          buf += c;
          for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
            const line = buf.slice(0, i);
            buf = buf.slice(i + 1);
            try {
              if (line.trim() !== '') onLine(line);
            } catch (e) {
              // What the caller cannot take (a line that is not JSON) ends the stream as a failure.
              req.destroy(e instanceof Error ? e : new Error(String(e)));
              return;
            }
          }
        });
        res.on('end', () => done(''));
        return;
      }
      // Decoded as it arrives: a chunk kept as a Buffer until the end outlives young-generation collections
      // when pages overlap, and its memory then waits for a full collection (tens of MB over a long list).
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => done(text));
    });
    req.end(opts.body);
  });
}

/**
 * One HTTP(S) request with a hard timeout over the whole exchange; redirects are returned, not followed.
 * Network failures become a classified `NetworkError`. Built on node:http(s) rather than `fetch`:
 * a run makes a handful of these, and loading a fetch implementation cost more than all of them.
 */
export async function httpRequest(url: string, opts: HttpOptions): Promise<HttpResponse> {
  try {
    return await send(new URL(url), opts);
  } catch (e) {
    throw classify(e, url, opts.timeoutMs);
  }
}

/**
 * A streaming request (a watch): `onLine` gets each line of a successful answer as it arrives; resolves
 * when the server ends the stream. An error answer (≥ 400) resolves whole, as httpRequest's.
 */
export async function httpStream(
  url: string,
  opts: HttpOptions,
  onLine: (line: string) => void,
): Promise<HttpResponse> {
  try {
    return await send(new URL(url), opts, onLine);
  } catch (e) {
    throw classify(e, url, opts.timeoutMs);
  }
}

/** Parses a JSON body leniently: undefined when it is not JSON. */
export function jsonBody(res: HttpResponse): unknown {
  try {
    return JSON.parse(res.text) as unknown;
  } catch {
    return undefined;
  }
}

/** Seconds from a Retry-After header (delta-seconds or HTTP date), or undefined. */
export function retryAfterMs(value: string | null | undefined, now = Date.now()): number | undefined {
  if (value == null || value === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** How a JSON API client retries: how often, how long to back off, what counts as a passing failure. */
export interface RetryPolicy {
  attempts: number;
  baseMs: number;
  maxMs: number;
  /** Whether a 429/5xx answer may be tried again (default: always; a sealed Vault, say, may not). */
  retryAnswer?: ((res: HttpResponse) => boolean) | undefined;
  onRetry?: ((error: unknown, attempt: number, delayMs: number) => void) | undefined;
}

class RetryableAnswer extends Error {
  readonly res: HttpResponse;
  constructor(res: HttpResponse) {
    super(`HTTP ${res.status}`);
    this.res = res;
  }
}

/**
 * A request to a JSON API, retried with backoff on 429 and 5xx (honouring Retry-After) and on network
 * failures a retry can cure (not TLS, not DNS). Resolves with the last answer, a 5xx after the retries
 * included, for the caller to word in its own terms; rejects with a NetworkError only when no answer came.
 * `json` is sent as the body with its content type.
 */
export async function requestWithRetry(
  url: string,
  opts: HttpOptions & { json?: unknown },
  policy: RetryPolicy,
): Promise<HttpResponse> {
  const { json, ...http } = opts;
  const headers: Record<string, string> = { accept: 'application/json', ...http.headers };
  if (json !== undefined) headers['content-type'] = 'application/json';
  const body = json === undefined ? http.body : JSON.stringify(json);
  try {
    return await withRetry(
      async () => {
        const res = await httpRequest(url, { ...http, headers, body });
        if (res.status === 429 || res.status >= 500) throw new RetryableAnswer(res);
        return res;
      },
      {
        attempts: policy.attempts,
        baseMs: policy.baseMs,
        maxMs: policy.maxMs,
        decide: (e) =>
          e instanceof RetryableAnswer
            ? {
                retry: policy.retryAnswer?.(e.res) ?? true,
                afterMs: retryAfterMs(e.res.headers.get('retry-after')),
              }
            : { retry: e instanceof NetworkError && e.kind !== 'tls' && e.kind !== 'dns' },
        onRetry: policy.onRetry,
        signal: http.signal,
      },
    );
  } catch (e) {
    if (e instanceof RetryableAnswer) return e.res;
    throw e;
  }
}
