import { jsonBody, type HttpResponse } from '../../net/http.ts';
import { retryAfterMs } from '../../net/retry.ts';

/**
 * ARM did not do what was asked: an error answer (`status`, ARM's `code` and message), no answer at all
 * (`network`), or no token (`identity`). `maybeApplied`: the request may have taken effect although no
 * success came back (a lost answer, a failed poll) — for generateCredentials, the slot is burned.
 */
export class ArmError extends Error {
  readonly status: number | undefined;
  readonly code: string;
  readonly retryAfterMs: number | undefined;
  readonly maybeApplied: boolean;
  constructor(
    message: string,
    o: {
      status?: number | undefined;
      code: string;
      retryAfterMs?: number | undefined;
      maybeApplied?: boolean;
      cause?: unknown;
    },
  ) {
    // The cause is a NetworkError or an identity error: neither carries a response body.
    super(message, o.cause === undefined ? undefined : { cause: o.cause });
    this.name = 'ArmError';
    this.status = o.status;
    this.code = o.code;
    this.retryAfterMs = o.retryAfterMs;
    this.maybeApplied = o.maybeApplied ?? false;
  }
}

/** `{"error":{"code","message"}}`, ARM's envelope; the message never holds a secret. */
export function armError(res: HttpResponse, maybeApplied: boolean): ArmError {
  const e = (jsonBody(res) as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  const code = typeof e?.code === 'string' ? e.code : `HTTP${res.status}`;
  const message = typeof e?.message === 'string' ? e.message.slice(0, 600) : `HTTP ${res.status}`;
  return new ArmError(message, {
    status: res.status,
    code,
    retryAfterMs: retryAfterMs(res.headers.get('retry-after')),
    maybeApplied,
  });
}
