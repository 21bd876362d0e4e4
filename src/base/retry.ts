import { setTimeout as sleep } from 'node:timers/promises';

/** How long to wait before the next attempt: doubling from `baseMs` up to `maxMs`. */
export interface Backoff {
  baseMs: number;
  maxMs: number;
  /** Full jitter: a random delay up to the doubled one (many clients retrying at once spread out). */
  jitter?: boolean | undefined;
}

/**
 * The one backoff formula: the wait before retry number `attempt` (1 = the first retry) is
 * `min(maxMs, baseMs × 2^(attempt-1))`, or a random part of it with `jitter`.
 */
export function backoffMs(attempt: number, b: Backoff): number {
  // Capped exponent: 2^40 already exceeds every maxMs, and larger ones overflow to Infinity × 0 = NaN.
  const full = Math.min(b.maxMs, b.baseMs * 2 ** Math.min(Math.max(0, attempt - 1), 40));
  return b.jitter === true ? Math.random() * full : full;
}

export interface RetryDecision {
  retry: boolean;
  /** Server-requested delay (Retry-After), used instead of the backoff when longer. */
  afterMs?: number | undefined;
}

export interface RetryOptions {
  attempts: number;
  baseMs: number;
  maxMs: number;
  decide: (error: unknown) => RetryDecision;
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  signal?: AbortSignal | undefined;
}

/** Exponential backoff with full jitter, honouring a server's Retry-After; rethrows the last error. */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      const d = opts.decide(e);
      if (!d.retry || attempt >= opts.attempts || opts.signal?.aborted === true) throw e;
      const backoff = backoffMs(attempt, { baseMs: opts.baseMs, maxMs: opts.maxMs, jitter: true });
      const delay = Math.min(Math.max(backoff, d.afterMs ?? 0), Math.max(opts.maxMs, d.afterMs ?? 0));
      opts.onRetry?.(e, attempt, delay);
      await sleep(delay, undefined, opts.signal ? { signal: opts.signal } : undefined).catch(() => undefined);
    }
  }
}
