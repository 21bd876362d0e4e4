/**
 * The stack's clusters: `a`, the main one (with the node), and — unless the stack was started with
 * REGCRED_STACK_FLEET=0 — `b` and `c` from test/stack/fleet/up.sh: an API server, etcd and controller-manager
 * each, no node. The same helpers as stack.ts, per cluster, with the admin identity of each.
 */
import { CoreV1Api, KubeConfig, type V1ServiceAccount } from '@kubernetes/client-node';
import {
  auditEvents,
  createNamespace,
  env,
  kubectlAt,
  testNamespaces,
  type AuditEvent,
  type KubectlResult,
} from './stack.ts';

export type ClusterName = 'a' | 'b' | 'c';

/** False only when the running stack was started without its fleet (REGCRED_STACK_FLEET=0). */
export const fleetRunning = process.env['REGCRED_STACK_FLEET'] !== '0';

export class StackCluster {
  #kc: KubeConfig | undefined;
  #core: CoreV1Api | undefined;

  readonly name: ClusterName;

  constructor(name: ClusterName) {
    this.name = name;
  }

  /** The env file's name for one of this cluster's settings: `KUBECONFIG_B`; the main cluster's has none. */
  #env(main: string, fleet: string): string {
    return this.name === 'a' ? env(main) : env(`REGCRED_STACK_${fleet}_${this.name.toUpperCase()}`);
  }
  get kubeconfig(): string {
    return this.#env('KUBECONFIG', 'KUBECONFIG');
  }
  /** The API server's URL, e.g. https://10.213.0.1:16444. */
  get apiserver(): string {
    return this.#env('REGCRED_STACK_APISERVER', 'APISERVER');
  }
  get auditLog(): string {
    return this.#env('REGCRED_STACK_AUDIT_LOG', 'AUDIT_LOG');
  }
  kubeConfig(): KubeConfig {
    if (!this.#kc) {
      this.#kc = new KubeConfig();
      this.#kc.loadFromFile(this.kubeconfig);
    }
    return this.#kc;
  }
  api = (): CoreV1Api => (this.#core ??= this.kubeConfig().makeApiClient(CoreV1Api));
  kubectl(...args: string[]): KubectlResult {
    return kubectlAt(this.kubeconfig, ...args);
  }
  createNamespace(name: string, labels: Record<string, string> = {}): Promise<V1ServiceAccount> {
    return createNamespace(name, labels, this.api);
  }
  testNamespaces(prefix: string): ReturnType<typeof testNamespaces> {
    return testNamespaces(prefix, this.api);
  }
  auditEvents(): AuditEvent[] {
    return auditEvents(this.auditLog);
  }
}

const known = new Map<ClusterName, StackCluster>();
export function cluster(name: ClusterName): StackCluster {
  let c = known.get(name);
  if (!c) known.set(name, (c = new StackCluster(name)));
  return c;
}

/** Every cluster the stack runs, as its env file lists them (REGCRED_STACK_CLUSTERS: `a:<kubeconfig> …`). */
export function clusters(): StackCluster[] {
  return env('REGCRED_STACK_CLUSTERS')
    .split(' ')
    .filter(Boolean)
    .map((entry) => {
      const name = entry.slice(0, entry.indexOf(':'));
      if (name !== 'a' && name !== 'b' && name !== 'c')
        throw new Error(`REGCRED_STACK_CLUSTERS names an unknown cluster: ${entry}`);
      return cluster(name);
    });
}
