/**
 * The JSON API clients' retries (the stores', the issuers', the Kubernetes caller's Retry-After) over
 * http.ts's one request: which answers and failures are tried again, and after how long.
 */
import { withRetry } from '../base/retry.ts';
import {
  httpRequest,
  NetworkError,
  type HttpOptions,
  type HttpResponse,
  type NetworkFailure,
} from './http.ts';

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

/** Network failures a retry cannot cure: a certificate, a name, a proxy that refuses the tunnel. */
const NOT_CURABLE: readonly NetworkFailure[] = ['tls', 'dns', 'proxy-refused'];

/**
 * A request to a JSON API, retried with backoff on 429 and 5xx (honouring Retry-After) and on network
 * failures a retry can cure (not TLS, DNS or a proxy's refusal). Resolves with the last answer, a 5xx after the retries
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
            : { retry: e instanceof NetworkError && !NOT_CURABLE.includes(e.kind) },
        onRetry: policy.onRetry,
        signal: http.signal,
      },
    );
  } catch (e) {
    if (e instanceof RetryableAnswer) return e.res;
    throw e;
  }
}
