import type { Config } from '../config/types.ts';
import type { RegistryCredential } from '../credentials/dockerconfig.ts';
import { registryVerifier } from '../credentials/registry-trust.ts';
import type { VerifyResult } from '../credentials/verify.ts';
import { RotatorError } from '../errors.ts';
import { connectKube, type KubeClients } from '../kube/client.ts';
import { K8sGateway } from '../kube/k8s-gateway.ts';
import { createLogger, type Logger } from '../base/logger.ts';
import { createStore } from '../providers/registry.ts';
import type { GlobalOptions } from './options.ts';
import type { SecretStore } from '../providers/types.ts';
import { measuredStore, type StoreRequestObserver } from '../providers/measured.ts';

export { configPath, type GlobalOptions } from './options.ts';

export function makeLogger(o: GlobalOptions): Logger {
  return createLogger({ level: o.logLevel ?? 'info', format: o.logFormat });
}

/** Stores are opened lazily (only those a run uses) and closed together. */
export class StoreSet {
  readonly #config: Config;
  readonly #logger: Logger;
  readonly #open = new Map<string, SecretStore>();
  #observer: StoreRequestObserver | undefined;

  constructor(config: Config, logger: Logger) {
    this.#config = config;
    this.#logger = logger;
  }

  get(name: string): SecretStore {
    let s = this.#open.get(name);
    if (!s) {
      const cfg = this.#config.stores[name];
      if (!cfg) throw new RotatorError('CONFIG_INVALID', `no store named "${name}"`);
      const store = createStore(name, cfg, {
        logger: this.#logger.child({ store: name }),
        baseDir: this.#config.baseDir,
      });
      s = measuredStore(store, (r) => this.#observer?.(r));
      this.#open.set(name, s);
    }
    return s;
  }

  /** Every store call from now on (stores opened already included) is reported to `observe`. */
  observe(observe: StoreRequestObserver): void {
    this.#observer = observe;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#open.values()].map((s) => s.close().catch(() => undefined)));
  }
}

/** The registry check of a config: its insecure registries and registry CA files. */
export function makeVerifier(
  config: Pick<Config, 'rotation' | 'baseDir'>,
): (cred: RegistryCredential) => Promise<VerifyResult> {
  return registryVerifier({
    insecure: config.rotation.insecureRegistries,
    caFiles: config.rotation.registryCaFiles,
    baseDir: config.baseDir,
    timeoutMs: 10_000,
  });
}

export interface Kube {
  clients: KubeClients;
  gateway: K8sGateway;
}

export function connect(o: GlobalOptions, logger: Logger): Kube {
  const clients = connectKube({
    kubeconfig: o.kubeconfig,
    context: o.context,
    requestTimeoutMs: (o.requestTimeout ?? 30) * 1000,
  });
  logger.debug({ server: clients.server, source: clients.source }, 'kubernetes client configured');
  return { clients, gateway: new K8sGateway(clients.rest, logger) };
}
