import { createPrivateKey, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import type { Logger } from '../base/logger.ts';
import { isRotatorError } from '../errors.ts';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../kube/labels.ts';
import { pemBlocks, type CertView } from './cert-plan.ts';
import { paths, type AdmissionKube, type RawDoc } from './kube.ts';
import type { KeyPair } from './x509.ts';

/** Set by an operator to renew now (`kubectl annotate secret … regcred-rotator.io/renew=now`). */
export const RENEW_ANNOTATION = 'regcred-rotator.io/renew';
/** While the replaced CA is still trusted: when it leaves the bundle. */
export const PREVIOUS_CA_UNTIL_ANNOTATION = 'regcred-rotator.io/previous-ca-until';

export interface CertStoreOptions {
  namespace: string;
  secretName: string;
  /** The MutatingWebhookConfiguration whose caBundle is kept. */
  webhookConfiguration: string;
  hosts: readonly string[];
}

export interface Stored {
  doc: RawDoc | undefined;
  pair: KeyPair | undefined;
  caBundle: string;
  view: CertView;
}

/** A PEM certificate's end of validity; undefined when it does not parse. */
export function notAfter(pem: string): Date | undefined {
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
 * Where the webhook's own certificate lives: the TLS Secret (read into a CertView for cert-plan.ts, written
 * with a resourceVersion precondition) and the webhook configuration's caBundle.
 */
export class CertStore {
  readonly #k: AdmissionKube;
  readonly #o: CertStoreOptions;
  readonly #log: Logger;

  constructor(k: AdmissionKube, o: CertStoreOptions, log: Logger) {
    this.#k = k;
    this.#o = o;
    this.#log = log;
  }

  async read(): Promise<Stored> {
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
   * Create, or patch at the resourceVersion read (a merge patch: the base ClusterRole's "patch secrets", no
   * "update" needed); a conflict means another replica wrote: what it wrote is read at the next round.
   */
  async write(
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
  async trusted(): Promise<string> {
    const cfg = await this.#k.get(
      'mutatingwebhookconfigurations',
      paths.webhookConfig(this.#o.webhookConfiguration),
    );
    const hooks = (cfg?.['webhooks'] ?? []) as { clientConfig?: { caBundle?: string } }[];
    return unb64(hooks[0]?.clientConfig?.caBundle);
  }

  /** Every webhook of the configuration trusts exactly `bundle` (written only when it differs). */
  async syncBundle(bundle: string): Promise<void> {
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
