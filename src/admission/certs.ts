import { createPrivateKey, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../base/logger.ts';
import { isRotatorError } from '../errors.ts';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../kube/labels.ts';
import { aborted } from './cert-files.ts';
import { certStep, pemBlocks, type CertStep, type CertTiming, type CertView } from './cert-plan.ts';
import { paths, type AdmissionKube, type RawDoc } from './kube.ts';
import { issueServing, type KeyPair } from './x509.ts';

/** Set by an operator to renew now (`kubectl annotate secret … regcred-rotator.io/renew=now`). */
export const RENEW_ANNOTATION = 'regcred-rotator.io/renew';
/** While the replaced CA is still trusted: when it leaves the bundle. */
export const PREVIOUS_CA_UNTIL_ANNOTATION = 'regcred-rotator.io/previous-ca-until';

export interface CertManagerOptions {
  namespace: string;
  secretName: string;
  /** The MutatingWebhookConfiguration whose caBundle the manager keeps. */
  webhookConfiguration: string;
  hosts: readonly string[];
  timing: CertTiming;
  /** How often the Secret and the configuration are checked. */
  checkMs: number;
}

interface Stored {
  doc: RawDoc | undefined;
  pair: KeyPair | undefined;
  caBundle: string;
  view: CertView;
}

/** A PEM certificate's end of validity; undefined when it does not parse. */
function notAfter(pem: string): Date | undefined {
  try {
    return new Date(new X509Certificate(pem).validTo);
  } catch {
    return undefined;
  }
}

/** The annotations a merge patch sets (null: removes). */
const present = (a: Record<string, string | null>): Record<string, string> =>
  Object.fromEntries(Object.entries(a).filter((e): e is [string, string] => e[1] !== null));
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: unknown) => (typeof s === 'string' ? Buffer.from(s, 'base64').toString('utf8') : '');

/**
 * The webhook's certificate, managed by the rotator itself: a CA and a serving certificate in a TLS Secret
 * in the rotator's namespace, the CA in the webhook configuration's caBundle, renewed before expiry
 * (cert-plan.ts says when and in which order). `onServe` receives each certificate to serve.
 */
export class CertManager {
  readonly #k: AdmissionKube;
  readonly #o: CertManagerOptions;
  readonly #log: Logger;
  readonly #onServe: (pair: KeyPair) => void;
  #serving: string | undefined;

  constructor(k: AdmissionKube, o: CertManagerOptions, log: Logger, onServe: (pair: KeyPair) => void) {
    this.#k = k;
    this.#o = o;
    this.#log = log;
    this.#onServe = onServe;
  }

  /** The first certificate (issued if needed); resolves once there is one to serve. */
  async start(): Promise<KeyPair> {
    await this.check();
    const s = await this.#read();
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
    let s = await this.#read();
    const step: CertStep = certStep(s.view, now, this.#o.timing);
    if (step.kind === 'renew') s = await this.#renew(s, step.why, now);
    else if (step.kind === 'drop-previous') s = await this.#dropPrevious(s);
    await this.#syncBundle(s.caBundle);
    if (s.pair) this.#serve(s.pair);
  }

  #serve(pair: KeyPair): void {
    if (this.#serving === pair.certPem) return;
    this.#serving = pair.certPem;
    this.#onServe(pair);
    this.#log.info({ notAfter: new X509Certificate(pair.certPem).validTo }, 'serving a webhook certificate');
  }

  async #read(): Promise<Stored> {
    const { namespace, secretName } = this.#o;
    const doc = await this.#k.get('secrets', paths.secret(namespace, secretName), namespace);
    if (!doc) return { doc, pair: undefined, caBundle: '', view: { exists: false, cas: 0, forced: false } };
    const data = (doc['data'] ?? {}) as Record<string, string>;
    const ann = doc.metadata?.annotations ?? {};
    const caBundle = unb64(data['ca.crt']);
    const until = ann[PREVIOUS_CA_UNTIL_ANNOTATION];
    const view: CertView = {
      exists: true,
      cas: pemBlocks(caBundle).length,
      previousCaUntil: until ? new Date(until) : undefined,
      forced: ann[RENEW_ANNOTATION] !== undefined,
    };
    const pair = { certPem: unb64(data['tls.crt']), keyPem: unb64(data['tls.key']) };
    try {
      const cert = new X509Certificate(pair.certPem);
      if (!cert.checkPrivateKey(createPrivateKey(pair.keyPem))) throw new Error('key does not match');
      const ca = pemBlocks(caBundle).map((p) => new X509Certificate(p));
      if (!ca.some((c) => cert.checkIssued(c) && cert.verify(c.publicKey)))
        throw new Error('not issued by ca.crt');
      view.leaf = {
        notBefore: new Date(cert.validFrom),
        notAfter: new Date(cert.validTo),
        coversHosts: this.#o.hosts.every((h) =>
          isIP(h) ? cert.checkIP(h) !== undefined : cert.checkHost(h) !== undefined,
        ),
      };
      return { doc, pair, caBundle, view };
    } catch (e) {
      this.#log.warn(
        { secret: `${namespace}/${secretName}`, err: (e as Error).message },
        'webhook TLS Secret unreadable; issuing a new certificate',
      );
      return { doc, pair: undefined, caBundle, view };
    }
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
    const old = pemBlocks(await this.#trusted()).find((p) => (notAfter(p)?.getTime() ?? 0) > now.getTime());
    const keepOld = old !== undefined;
    const bundle = fresh.caPem + (old ?? '');
    this.#log.info(
      { why, notAfter: new X509Certificate(fresh.certPem).validTo },
      'renewing the webhook certificate',
    );
    if (keepOld) {
      await this.#syncBundle(bundle);
      await sleep(timing.graceMs);
    }
    const annotations = {
      [RENEW_ANNOTATION]: null,
      [PREVIOUS_CA_UNTIL_ANNOTATION]: keepOld
        ? new Date(Date.now() + timing.dropAfterMs).toISOString()
        : null,
    };
    await this.#writeSecret(s.doc, annotations, {
      'tls.crt': fresh.certPem,
      'tls.key': fresh.keyPem,
      'ca.crt': bundle,
    });
    return this.#read();
  }

  async #dropPrevious(s: Stored): Promise<Stored> {
    const annotations = { [PREVIOUS_CA_UNTIL_ANNOTATION]: null };
    const current = pemBlocks(s.caBundle)[0] ?? '';
    await this.#writeSecret(s.doc, annotations, {
      'tls.crt': s.pair?.certPem ?? '',
      'tls.key': s.pair?.keyPem ?? '',
      'ca.crt': current,
    });
    this.#log.info({}, 'the replaced webhook CA is no longer trusted');
    return this.#read();
  }

  /**
   * Create, or patch at the resourceVersion read (a merge patch: the base ClusterRole's "patch secrets", no
   * "update" needed); a conflict means another replica wrote: what it wrote is read at the next round.
   */
  async #writeSecret(
    doc: RawDoc | undefined,
    annotations: Record<string, string | null>,
    files: Record<string, string>,
  ) {
    const { namespace, secretName } = this.#o;
    const data = Object.fromEntries(Object.entries(files).map(([k, v]) => [k, b64(v)]));
    const labels = { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE };
    try {
      if (doc)
        await this.#k.mergePatch(
          'secrets',
          paths.secret(namespace, secretName),
          {
            metadata: {
              name: secretName,
              resourceVersion: doc.metadata?.resourceVersion,
              labels,
              annotations,
            },
            data,
          },
          namespace,
        );
      else
        await this.#k.create('secrets', paths.secret(namespace), {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: secretName, namespace, labels, annotations: present(annotations) },
          type: 'kubernetes.io/tls',
          data,
        });
    } catch (e) {
      if (!isRotatorError(e, 'KUBE_CONFLICT') && !isRotatorError(e, 'KUBE_ALREADY_EXISTS')) throw e;
      this.#log.info({}, 'the webhook TLS Secret changed meanwhile (another replica); using what it holds');
    }
  }

  /** The CAs the configuration's first webhook trusts now ('' when none or no configuration). */
  async #trusted(): Promise<string> {
    const cfg = await this.#k.get(
      'mutatingwebhookconfigurations',
      paths.webhookConfig(this.#o.webhookConfiguration),
    );
    const hooks = (cfg?.['webhooks'] ?? []) as { clientConfig?: { caBundle?: string } }[];
    return unb64(hooks[0]?.clientConfig?.caBundle);
  }

  /** Every webhook of the configuration trusts exactly `bundle` (written only when it differs). */
  async #syncBundle(bundle: string): Promise<void> {
    if (bundle === '') return;
    const name = this.#o.webhookConfiguration;
    const cfg = await this.#k.get('mutatingwebhookconfigurations', paths.webhookConfig(name));
    if (!cfg) {
      this.#log.warn(
        { webhookConfiguration: name },
        'webhook configuration not found; its caBundle cannot be set',
      );
      return;
    }
    const hooks = (cfg['webhooks'] ?? []) as { clientConfig?: { caBundle?: string } }[];
    const want = b64(bundle);
    if (hooks.every((h) => h.clientConfig?.caBundle === want)) return;
    const ops: unknown[] = [
      { op: 'test', path: '/metadata/resourceVersion', value: cfg.metadata?.resourceVersion },
    ];
    hooks.forEach((_, i) =>
      ops.push({ op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: want }),
    );
    await this.#k.jsonPatch('mutatingwebhookconfigurations', paths.webhookConfig(name), ops, name);
    this.#log.info({ webhookConfiguration: name, cas: pemBlocks(bundle).length }, 'webhook caBundle updated');
  }
}
