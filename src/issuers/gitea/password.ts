import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Sensitive } from '../../base/sensitive.ts';
import { RotatorError } from '../../errors.ts';
import type { SecretStore } from '../../providers/types.ts';
import type { GiteaTokenIssuerConfig } from './schema.ts';

/**
 * How the issuer reads its login's password (or management token): from a key of the target's store, or
 * from a mounted file (relative paths against `baseDir`). Read at first use and again after a refusal, so a
 * password rotated in the store is picked up without a restart.
 */
export function loginPassword(
  config: Pick<GiteaTokenIssuerConfig, 'login' | 'url'>,
  from: { store: Pick<SecretStore, 'get'>; baseDir: string },
): () => Promise<Sensitive> {
  const p = config.login.password;
  if ('key' in p) return async () => (await from.store.get(p.key)).value;
  const file = resolve(from.baseDir, p.file);
  return async () => {
    try {
      // One trailing newline is an artefact of `echo > file`, never part of a password.
      return new Sensitive((await readFile(file, 'utf8')).replace(/\r?\n$/, ''));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'error';
      throw new RotatorError(
        'ISSUER_AUTH',
        `gitea ${config.url}: cannot read the password of login "${config.login.username}" from ${file} (${code})`,
        { cause: e, details: { issuer: 'gitea-token', url: config.url, login: config.login.username } },
      );
    }
  };
}
