import { readFileSync } from 'node:fs';
import { Agent, fetch, type Dispatcher } from 'undici';

/** Why a request got no HTTP answer, in words an operator can act on. */
export type NetworkFailure = 'timeout' | 'refused' | 'dns' | 'tls' | 'reset' | 'other';

export class NetworkError extends Error {
  readonly kind: NetworkFailure;
  constructor(kind: NetworkFailure, message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'NetworkError';
    this.kind = kind;
  }
}

export interface HttpOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs: number;
  dispatcher?: Dispatcher | undefined;
}

export interface HttpResponse {
  status: number;
  headers: Headers;
  text: string;
}

function classify(e: unknown, url: string, timeoutMs: number): NetworkError {
  if (e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError')) {
    return new NetworkError('timeout', `no answer from ${url} within ${timeoutMs} ms`, e);
  }
  const cause = e instanceof Error ? (e.cause as (Error & { code?: string }) | undefined) : undefined;
  const code = cause?.code ?? '';
  const host = new URL(url).host;
  if (code === 'ECONNREFUSED')
    return new NetworkError('refused', `connection to ${host} refused (is it running?)`, e);
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return new NetworkError('dns', `cannot resolve host ${host}`, e);
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE') {
    return new NetworkError('reset', `connection to ${host} was reset`, e);
  }
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT')
    return new NetworkError('timeout', `connecting to ${host} timed out`, e);
  if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)) {
    return new NetworkError(
      'tls',
      `TLS with ${host} failed (${code}): trust its CA with NODE_EXTRA_CA_CERTS or the store's caFile`,
      e,
    );
  }
  return new NetworkError('other', `request to ${host} failed${code ? ` (${code})` : ''}`, e);
}

/** One HTTP request with a hard timeout; network failures become a classified `NetworkError`. */
export async function httpRequest(url: string, opts: HttpOptions): Promise<HttpResponse> {
  try {
    const res = await fetch(url, {
      method: opts.method ?? 'GET',
      headers: opts.headers,
      body: opts.body,
      signal: AbortSignal.timeout(opts.timeoutMs),
      dispatcher: opts.dispatcher,
      redirect: 'manual',
    });
    return { status: res.status, headers: res.headers as unknown as Headers, text: await res.text() };
  } catch (e) {
    throw classify(e, url, opts.timeoutMs);
  }
}

/** A connection pool that trusts only the CA in `caFile` (or the default roots plus NODE_EXTRA_CA_CERTS). */
export function makeDispatcher(caFile?: string): Dispatcher {
  const ca = caFile === undefined ? undefined : readFileSync(caFile, 'utf8');
  return new Agent({ connect: ca === undefined ? {} : { ca }, keepAliveTimeout: 10_000 });
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
