import { resolve } from 'node:path';
import { RotatorError } from '../errors.ts';
import { ConnectionPool } from '../net/http.ts';
import type { RegistryCredential } from './dockerconfig.ts';
import { registryApiHost } from './registry-key.ts';
import { verifyRegistry, type VerifyResult } from './verify.ts';

export interface RegistryTrustOptions {
  /** Registries (host[:port]) reached over plain HTTP. */
  insecure: readonly string[];
  /** A PEM CA file per registry host[:port] (`rotation.registryCaFiles`), trusted beside the default roots. */
  caFiles: Readonly<Record<string, string>>;
  /** Relative CA files resolve against this directory (the config file's). */
  baseDir: string;
  timeoutMs: number;
}

/**
 * Pools by CA file and setting, kept for the process: a scheduler verifies at every full pass, and each pass
 * reusing the same keep-alive connections costs nothing.
 */
const pools = new Map<string, ConnectionPool>();

function poolFor(host: string, o: RegistryTrustOptions): ConnectionPool {
  const file = o.caFiles[host];
  const caSetting = `rotation.registryCaFiles["${host}"]`;
  const path = file === undefined ? undefined : resolve(o.baseDir, file);
  const key = `${path ?? ''}\u0000${caSetting}`;
  let pool = pools.get(key);
  if (!pool) {
    try {
      pool = new ConnectionPool(path, { caSetting, addToDefaults: true });
    } catch (e) {
      throw new RotatorError(
        'CONFIG_INVALID',
        `${caSetting}: cannot read the CA file ${path ?? ''} (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
    pools.set(key, pool);
  }
  return pool;
}

/**
 * The registry check with the trust each registry needs: its CA from `rotation.registryCaFiles` (the token
 * service it names is reached through the same pool, so the same CA covers it), and TLS errors that name
 * the setting to change for that registry.
 */
export function registryVerifier(
  o: RegistryTrustOptions,
): (cred: RegistryCredential) => Promise<VerifyResult> {
  return (cred) =>
    verifyRegistry(cred, {
      insecure: o.insecure,
      timeoutMs: o.timeoutMs,
      pool: poolFor(registryApiHost(cred.registry), o),
    });
}
