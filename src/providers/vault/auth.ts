import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Sensitive, registerSecret } from '../../base/sensitive.ts';
import { RotatorError } from '../../errors.ts';
import type { VaultLogin, VaultToken } from './client.ts';
import type { VaultAuthConfig } from './schema.ts';

async function readSecretFile(file: string, what: string, store: string): Promise<string> {
  try {
    const text = (await readFile(file, 'utf8')).trim();
    if (text === '') throw new Error('empty');
    registerSecret(text);
    return text;
  } catch (e) {
    throw new RotatorError(
      'STORE_AUTH',
      `store "${store}" (vault): cannot read the ${what} from ${file} (${(e as NodeJS.ErrnoException).code ?? 'empty file'})`,
      {
        cause: e,
        details: { store },
      },
    );
  }
}

function fromEnv(name: string, what: string, store: string): string {
  const v = process.env[name];
  if (v === undefined || v === '') {
    throw new RotatorError(
      'STORE_AUTH',
      `store "${store}" (vault): the ${what} is not set (environment variable ${name} is empty)`,
      {
        details: { store },
      },
    );
  }
  registerSecret(v);
  return v;
}

/** The login function for an auth method: token (file or env), AppRole, or Kubernetes. */
export function makeLogin(store: string, auth: VaultAuthConfig, baseDir: string): VaultLogin {
  switch (auth.method) {
    case 'token':
      return async (client): Promise<VaultToken> => {
        const raw = auth.tokenFile
          ? await readSecretFile(resolve(baseDir, auth.tokenFile), 'token', store)
          : fromEnv(auth.tokenEnv, 'token', store);
        const token = new Sensitive(raw);
        const info = await client.lookupSelf(token);
        if (!info)
          throw new RotatorError(
            'STORE_AUTH',
            `store "${store}" (vault): the token was refused (invalid, expired or revoked)`,
            { details: { store } },
          );
        return {
          token,
          expiresAt: info.ttl > 0 ? Date.now() + info.ttl * 1000 : undefined,
          ttlMs: info.ttl * 1000,
          renewable: info.renewable,
        };
      };
    case 'approle':
      return async (client): Promise<VaultToken> => {
        const roleId =
          auth.roleId ??
          (auth.roleIdFile ? (await readFile(resolve(baseDir, auth.roleIdFile), 'utf8')).trim() : undefined);
        if (!roleId)
          throw new RotatorError(
            'CONFIG_INVALID',
            `stores.${store}.auth: give roleId or roleIdFile for AppRole`,
          );
        const secretId = auth.secretIdFile
          ? await readSecretFile(resolve(baseDir, auth.secretIdFile), 'AppRole secret id', store)
          : fromEnv(auth.secretIdEnv, 'AppRole secret id', store);
        const res = await client.raw(
          'POST',
          `auth/${auth.mount}/login`,
          { role_id: roleId, secret_id: secretId },
          null,
        );
        return client.tokenFrom(res, `AppRole login (auth/${auth.mount}, role id ${roleId})`);
      };
    case 'kubernetes':
      return async (client): Promise<VaultToken> => {
        const jwt = await readSecretFile(resolve(baseDir, auth.tokenFile), 'ServiceAccount token', store);
        const res = await client.raw('POST', `auth/${auth.mount}/login`, { role: auth.role, jwt }, null);
        return client.tokenFrom(res, `Kubernetes login (auth/${auth.mount}, role "${auth.role}")`);
      };
  }
}
