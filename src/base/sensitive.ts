import { inspect } from 'node:util';

const REDACTED = '[redacted]';
/** Every secret string this process has seen, in the forms it could be printed in. Used by `scrub`. */
const known = new Set<string>();
const MIN_SCRUB_LENGTH = 4;

function remember(value: string): void {
  if (value.length < MIN_SCRUB_LENGTH) return;
  known.add(value);
  const jsonEscaped = JSON.stringify(value).slice(1, -1);
  if (jsonEscaped !== value) known.add(jsonEscaped);
  known.add(Buffer.from(value, 'utf8').toString('base64'));
}

/**
 * A secret value that cannot print itself: `String()`, template literals, `JSON.stringify`, `util.inspect`
 * (console, pino, vitest diffs) all show `[redacted]`. The only way to the value is `reveal()`, which
 * call sites use to build a request or a Secret, never to log.
 */
export class Sensitive {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
    remember(value);
  }

  reveal(): string {
    return this.#value;
  }

  get length(): number {
    return this.#value.length;
  }

  equals(other: Sensitive): boolean {
    return this.#value === other.#value;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}

/** Registers a secret that arrives outside a `Sensitive` (a token in a response header, say). */
export function registerSecret(value: string): void {
  remember(value);
}

/**
 * Un-registers a value that turned out not to be secret (a username read from its own store key), so
 * the scrubber does not blank out every mention of it. The value stays a `Sensitive` where it is held.
 */
export function forgetSecret(value: string): void {
  known.delete(value);
  known.delete(JSON.stringify(value).slice(1, -1));
  known.delete(Buffer.from(value, 'utf8').toString('base64'));
}

/**
 * Last line of defence: replaces every known secret in `text` with `[redacted]`. The logger and the CLI's
 * error printer pass all output through it, so a value that slipped into a message still never leaves.
 */
export function scrub(text: string): string {
  let out = text;
  for (const s of known) {
    if (out.includes(s)) out = out.split(s).join(REDACTED);
  }
  return out;
}
