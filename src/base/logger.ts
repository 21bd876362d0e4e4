import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';
import type { PrettyOptions, PrettyStream } from 'pino-pretty';
import { scrub } from './sensitive.ts';

/** pino-pretty is loaded only for pretty output (a terminal): JSON runs never pay for it. */
const pretty = (o: PrettyOptions): PrettyStream =>
  (createRequire(import.meta.url)('pino-pretty') as (o: PrettyOptions) => PrettyStream)(o);

export type Logger = PinoLogger;
export type LogFormat = 'json' | 'pretty';
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  /** Where lines go; stderr by default so stdout stays for tables and `-o json`. */
  destination?: DestinationStream;
}

/** Field paths that may carry secrets if a caller slips; redacted by pino before anything else runs. */
const REDACT = [
  'password',
  '*.password',
  'auth',
  '*.auth',
  'token',
  '*.token',
  'secretId',
  'jwt',
  'value',
  '*.value',
  'data',
  '*.data',
  'headers.authorization',
  '*.headers.authorization',
  'headers["x-vault-token"]',
];

/**
 * The process logger: JSON lines (pretty on a TTY), constant messages with data in fields, redaction by
 * path, and a final scrub of every line against all secrets this process knows (base/sensitive.ts).
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const format = options.format ?? (process.stderr.isTTY ? 'pretty' : 'json');
  const destination =
    options.destination ??
    (format === 'pretty'
      ? pretty({
          destination: 2,
          sync: true,
          colorize: process.stderr.isTTY,
          translateTime: 'SYS:HH:MM:ss',
          ignore: 'pid,hostname',
        })
      : pino.destination({ dest: 2, sync: true }));
  return pino(
    {
      level: options.level ?? 'info',
      base: { name: 'regcred-rotator' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
      hooks: { streamWrite: (line) => scrub(line) },
    },
    destination,
  );
}

/** A logger that drops everything (unit tests, library use). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
