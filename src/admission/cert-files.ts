import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../base/logger.ts';
import type { KeyPair } from './x509.ts';

/** Read through a call: the signal changes under an await, which flow analysis cannot see. */
export const aborted = (s: AbortSignal): boolean => s.aborted;

/**
 * A certificate someone else keeps current in a directory (cert-manager's Certificate mounted from its
 * Secret: tls.crt, tls.key; its CA injector sets the caBundle). Re-read every `checkMs`; a new pair is
 * served once it parses and its key matches — a half-written update is skipped until the next read.
 */
export class CertFiles {
  readonly #dir: string;
  readonly #log: Logger;
  readonly #onServe: (pair: KeyPair) => void;
  #serving = '';

  constructor(dir: string, log: Logger, onServe: (pair: KeyPair) => void) {
    this.#dir = dir;
    this.#log = log;
    this.#onServe = onServe;
  }

  async read(): Promise<KeyPair> {
    const [certPem, keyPem] = await Promise.all([
      readFile(join(this.#dir, 'tls.crt'), 'utf8'),
      readFile(join(this.#dir, 'tls.key'), 'utf8'),
    ]);
    if (!new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem)))
      throw new Error(`${this.#dir}: tls.key does not belong to tls.crt`);
    return { certPem, keyPem };
  }

  async start(): Promise<KeyPair> {
    const pair = await this.read();
    this.#serving = pair.certPem;
    return pair;
  }

  async run(signal: AbortSignal, checkMs: number): Promise<void> {
    while (!signal.aborted) {
      await sleep(checkMs, undefined, { signal }).catch(() => undefined);
      if (aborted(signal)) return;
      try {
        const pair = await this.read();
        if (pair.certPem === this.#serving) continue;
        this.#serving = pair.certPem;
        this.#onServe(pair);
        this.#log.info(
          { dir: this.#dir, notAfter: new X509Certificate(pair.certPem).validTo },
          'serving a new webhook certificate from files',
        );
      } catch (e) {
        this.#log.warn(
          { dir: this.#dir, err: (e as Error).message },
          'webhook certificate files unreadable; keeping the current one',
        );
      }
    }
  }
}
