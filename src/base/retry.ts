import { setTimeout as sleep } from 'node:timers/promises';

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
      const backoff = Math.random() * Math.min(opts.maxMs, opts.baseMs * 2 ** (attempt - 1));
      const delay = Math.min(Math.max(backoff, d.afterMs ?? 0), Math.max(opts.maxMs, d.afterMs ?? 0));
      opts.onRetry?.(e, attempt, delay);
      await sleep(delay, undefined, opts.signal ? { signal: opts.signal } : undefined).catch(() => undefined);
    }
  }
}
