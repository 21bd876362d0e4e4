import type { LogFormat, LogLevel } from '../base/logger.ts';
import { parseDuration } from '../config/duration.ts';
import { RotatorError } from '../errors.ts';

/** Options every command accepts. */
export interface GlobalOptions {
  config?: string | undefined;
  kubeconfig?: string | undefined;
  context?: string | undefined;
  namespace?: string[] | undefined;
  logLevel?: LogLevel | undefined;
  logFormat?: LogFormat | undefined;
  requestTimeout?: number | undefined;
}

/** The config file: --config, then $REGCRED_ROTATOR_CONFIG, then ./config.yaml. */
export function configPath(o: GlobalOptions): string {
  return o.config ?? process.env['REGCRED_ROTATOR_CONFIG'] ?? './config.yaml';
}

/**
 * `--request-timeout` as kubectl takes it: a duration (`30s`, `1m`, `500ms`, `1m30s`) or a bare number of
 * seconds; `0` means no timeout. Returns seconds.
 */
export function parseRequestTimeout(text: string): number {
  const t = text.trim();
  const ms = /^\d+(\.\d+)?$/.test(t) ? Number(t) * 1000 : parseDuration(t);
  if (ms === undefined || !Number.isFinite(ms))
    throw new RotatorError(
      'USAGE',
      `--request-timeout ${text}: give a duration such as 30s, 1m or 500ms, or a number of seconds (0: no timeout)`,
    );
  return ms / 1000;
}
