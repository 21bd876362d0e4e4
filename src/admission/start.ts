import type { Logger } from '../base/logger.ts';
import type { Config } from '../config/types.ts';
import type { KubeGateway } from '../kube/gateway.ts';
import type { KubeRest } from '../kube/rest.ts';
import type { NamespaceObject } from '../kube/types.ts';
import type { DesiredSecret } from '../rotation/unit/types.ts';
import { CertFiles } from './cert-files.ts';
import { CertManager } from './certs.ts';
import { AdmissionEngine } from './engine.ts';
import { AdmissionKube } from './kube.ts';
import { admissionSettings } from './options.ts';
import { syncPolicy } from './policy-sync.ts';
import { WebhookServer } from './server.ts';
import { reviewHandler } from './webhook.ts';

/**
 * How long a pod's admission may wait for its namespace to be provisioned: well inside the webhook
 * configuration's timeoutSeconds (5), after which the API server would admit the pod without us.
 */
const PROVISION_BUDGET_MS = 3000;
/** How often the webhook's certificate (Secret, caBundle) or its files are checked. */
const CERT_CHECK_MS = 10_000;

export interface AdmissionParts {
  /** The command's options (optsWithGlobals): the admission flags among them (options.ts). */
  flags: object;
  config: Config;
  gateway: KubeGateway;
  rest: KubeRest;
  logger: Logger;
  /** The scheduler's run lock, taken before a write (its event side's bursts). */
  beforeWrite: () => Promise<void>;
  /** What the scheduler's namespace watch knows. */
  knownNamespace?: ((name: string) => NamespaceObject | undefined) | undefined;
  signal: AbortSignal;
}

/** What the scheduler holds: feed it each full pass's desired secrets; close it on the way out. */
export interface Admission {
  setDesired(desired: readonly DesiredSecret[]): void;
  close(): Promise<void>;
}

/**
 * Starts what the flags ask for — the webhook (server, certificate), the policy's params and bindings —
 * or nothing (undefined). Called once by scheduler mode.
 */
export async function startAdmission(p: AdmissionParts): Promise<Admission | undefined> {
  const s = admissionSettings(p.flags, p.config.lock.namespace);
  if (!s.webhook && !s.policy) return undefined;
  const log = p.logger.child({ mode: 'admission' });
  const k = new AdmissionKube(p.rest, log);
  const engine = new AdmissionEngine({
    ...p,
    logger: log,
    only: (p.flags as { namespace?: string[] }).namespace,
  });
  const tasks: Promise<void>[] = [];
  let server: WebhookServer | undefined;
  if (s.webhook) {
    const w = s.webhook;
    const use = (pair: Parameters<WebhookServer['use']>[0]) => server?.use(pair);
    const checkMs = Math.min(CERT_CHECK_MS, w.timing.validityMs / 12);
    let first;
    if (w.certDir) {
      const files = new CertFiles(w.certDir, log, use);
      first = await files.start();
      tasks.push(files.run(p.signal, checkMs));
    } else {
      const certs = new CertManager(
        k,
        {
          namespace: p.config.lock.namespace,
          secretName: w.tlsSecret,
          webhookConfiguration: w.configuration,
          hosts: w.hosts,
          timing: w.timing,
          checkMs,
        },
        log,
        use,
      );
      first = await certs.start();
      tasks.push(certs.run(p.signal));
    }
    server = new WebhookServer(first, reviewHandler(engine, log, PROVISION_BUDGET_MS), log);
    const port = await server.listen(w.port, w.host);
    log.info(
      { port, hosts: w.hosts, certificate: w.certDir ? 'files' : 'own' },
      'admission webhook listening',
    );
  }
  let syncing = Promise.resolve();
  return {
    setDesired(desired) {
      engine.setDesired(desired);
      if (!s.policy) return;
      const policy = s.policy;
      // One sync at a time, in pass order; a failure waits for the next pass.
      syncing = syncing
        .then(() =>
          syncPolicy(
            k,
            { policy, namespace: p.config.lock.namespace, targets: engine.targets(), desired },
            log,
          ),
        )
        .then(
          () => undefined,
          (e: unknown) =>
            log.warn(
              { err: (e as Error).message },
              'admission policy params not updated; the next pass retries',
            ),
        );
    },
    async close() {
      await server?.close();
      await Promise.allSettled([...tasks, syncing]);
    },
  };
}
