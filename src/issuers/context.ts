import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import * as z from 'zod';
import type { Logger } from '../base/logger.ts';
import { Sensitive } from '../base/sensitive.ts';
import { RotatorError } from '../errors.ts';

/** What every issuer is given besides its own config. */
export interface IssuerContext {
  /** The target's name (part of every registry-side name an issuer chooses). */
  target: string;
  logger: Logger;
  /** Directory relative paths in the config (`file`, `caFile`) are resolved against. */
  baseDir: string;
  /** Reads a key of the target's store: where a managing identity's password is best kept. */
  readStoreKey: (key: string) => Promise<Sensitive>;
  /** The age policy (an issuer sets registry-side expiries from it). */
  maxAgeDays: number;
  now?: (() => Date) | undefined;
}

/** A secret of the managing identity: a key of the target's store, or a mounted file. Never inline. */
export const secretRefSchema = z.union(
  [z.strictObject({ key: z.string().min(1) }), z.strictObject({ file: z.string().min(1) })],
  { error: () => 'must be { key: <store key> } or { file: <path> }' },
);
export type SecretRef = z.infer<typeof secretRefSchema>;

/**
 * Reads a managing identity's secret where the config says it is. Called at first use and again after a
 * refusal, so a password changed in the store is picked up without a restart. `what` names it in errors.
 */
export async function readSecretRef(
  ref: SecretRef,
  ctx: { baseDir: string; readStoreKey?: IssuerContext['readStoreKey'] | undefined },
  what: string,
): Promise<Sensitive> {
  if ('key' in ref) {
    if (!ctx.readStoreKey)
      throw new RotatorError('CONFIG_INVALID', `${what}: a password { key } needs the target's store`);
    return ctx.readStoreKey(ref.key);
  }
  const file = resolve(ctx.baseDir, ref.file);
  try {
    // A trailing newline is an artefact of `echo > file`, never part of a password.
    return new Sensitive((await readFile(file, 'utf8')).replace(/\r?\n+$/, ''));
  } catch (e) {
    throw new RotatorError(
      'ISSUER_AUTH',
      `${what}: cannot read the password from ${file} (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
      { cause: e },
    );
  }
}
