import { X509Certificate } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../base/logger.ts';
import { aborted } from './cert-files.ts';
import { certStep, pemBlocks, type CertStep, type CertTiming } from './cert-plan.ts';
import {
  CertStore,
  notAfter,
  PREVIOUS_CA_UNTIL_ANNOTATION,
  RENEW_ANNOTATION,
  type CertStoreOptions,
  type Stored,
} from './cert-store.ts';
import type { AdmissionKube } from './kube.ts';
import { issueServing, type KeyPair } from './x509.ts';

export interface CertManagerOptions extends CertStoreOptions {
  timing: CertTiming;
  /** How often the Secret and the configuration are checked. */
  checkMs: number;
}

/**
 * The webhook's certificate, managed by the rotator itself: a CA and a serving certificate in a TLS Secret
 * in the rotator's namespace, the CA in the webhook configuration's caBundle, renewed before expiry
 * (cert-plan.ts says when and in which order). `onServe` receives each certificate to serve.
 */
export class CertManager {
  readonly #store: CertStore;
  readonly #o: CertManagerOptions;
  readonly #log: Logger;
  readonly #onServe: (pair: KeyPair) => void;
  #serving: string | undefined;

  constructor(k: AdmissionKube, o: CertManagerOptions, log: Logger, onServe: (pair: KeyPair) => void) {
    this.#store = new CertStore(k, o, log);
    this.#o = o;
    this.#log = log;
    this.#onServe = onServe;
  }

  /** The first certificate (issued if needed); resolves once there is one to serve. */
  async start(): Promise<KeyPair> {
    await this.check();
    const s = await this.#store.read();
    if (!s.pair) throw new Error('no webhook certificate after the first check');
    return s.pair;
  }

  /** Checks every `checkMs` until `signal` aborts; a failed check is logged and retried at the next. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await sleep(this.#o.checkMs, undefined, { signal }).catch(() => undefined);
      if (aborted(signal)) return;
      await this.check().catch((e: unknown) =>
        this.#log.warn({ err: (e as Error).message }, 'webhook certificate check failed; retrying'),
      );
    }
  }

  /** One round: renew or drop what is due, keep the caBundle equal to the Secret's, serve the current pair. */
  async check(now = new Date()): Promise<void> {
    let s = await this.#store.read();
    const step: CertStep = certStep(s.view, now, this.#o.timing);
    if (step.kind === 'renew') s = await this.#renew(s, step.why, now);
    else if (step.kind === 'drop-previous') s = await this.#dropPrevious(s);
    await this.#store.syncBundle(s.caBundle);
    if (s.pair) this.#serve(s.pair);
  }

  #serve(pair: KeyPair): void {
    if (this.#serving === pair.certPem) return;
    this.#serving = pair.certPem;
    this.#onServe(pair);
    this.#log.info({ notAfter: new X509Certificate(pair.certPem).validTo }, 'serving a webhook certificate');
  }

  /**
   * A new CA and serving certificate. The bundle first gets the new CA beside the one trusted now, then,
   * after the grace time, the Secret gets the new pair: a process that serves what the Secret holds never
   * serves a certificate the API server cannot verify.
   */
  async #renew(s: Stored, why: string, now: Date): Promise<Stored> {
    const { timing, hosts } = this.#o;
    const skew = Math.min(3_600_000, timing.validityMs / 10);
    const fresh = issueServing(
      hosts,
      {
        notBefore: new Date(now.getTime() - skew),
        notAfter: new Date(now.getTime() + timing.validityMs),
      },
      now.toISOString(),
    );
    // What the API server trusts now stays trusted across the switch: the CA of the certificate being
    // served, even when the Secret itself became unreadable (it is in the configuration's bundle).
    const old = pemBlocks(await this.#store.trusted()).find(
      (p) => (notAfter(p)?.getTime() ?? 0) > now.getTime(),
    );
    const keepOld = old !== undefined;
    const bundle = fresh.caPem + (old ?? '');
    this.#log.info(
      { why, notAfter: new X509Certificate(fresh.certPem).validTo },
      'renewing the webhook certificate',
    );
    if (keepOld) {
      await this.#store.syncBundle(bundle);
      await sleep(timing.graceMs);
    }
    const annotations = {
      [RENEW_ANNOTATION]: null,
      [PREVIOUS_CA_UNTIL_ANNOTATION]: keepOld
        ? new Date(Date.now() + timing.dropAfterMs).toISOString()
        : null,
    };
    await this.#store.write(s.doc, annotations, {
      'tls.crt': fresh.certPem,
      'tls.key': fresh.keyPem,
      'ca.crt': bundle,
    });
    return this.#store.read();
  }

  async #dropPrevious(s: Stored): Promise<Stored> {
    const annotations = { [PREVIOUS_CA_UNTIL_ANNOTATION]: null };
    const current = pemBlocks(s.caBundle)[0] ?? '';
    await this.#store.write(s.doc, annotations, {
      'tls.crt': s.pair?.certPem ?? '',
      'tls.key': s.pair?.keyPem ?? '',
      'ca.crt': current,
    });
    this.#log.info({}, 'the replaced webhook CA is no longer trusted');
    return this.#store.read();
  }
}
