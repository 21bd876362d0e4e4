import { loadClusterAccess, type KubeConnectOptions } from './kubeconfig.ts';
import { KubeRest } from './rest.ts';

export type { KubeConnectOptions } from './kubeconfig.ts';

/** A connection to the cluster: where it came from, and the REST client every request goes through. */
export interface KubeClients {
  source: string;
  server: string;
  rest: KubeRest;
  close(): Promise<void>;
}

/** Finds cluster access (kubeconfig.ts) and builds the REST client: keep-alive pool, a timeout per request. */
export function connectKube(opts: KubeConnectOptions): KubeClients {
  const access = loadClusterAccess(opts);
  const rest = new KubeRest(access, opts.requestTimeoutMs ?? 30_000);
  return { source: access.source, server: access.server, rest, close: async () => rest.close() };
}
