/** How the client reaches and authenticates to the API server (from a kubeconfig or the pod's ServiceAccount). */

/** An exec credential plugin (client.authentication.k8s.io): kubelogin, aws eks get-token, gke-gcloud-auth-plugin. */
export interface ExecConfig {
  command: string;
  args: string[];
  env: { name: string; value: string }[];
  apiVersion: string;
  provideClusterInfo: boolean;
}

export type Credentials =
  | { kind: 'none' }
  | { kind: 'token'; token: string }
  | { kind: 'token-file'; path: string }
  | { kind: 'basic'; username: string; password: string }
  | { kind: 'exec'; exec: ExecConfig };

/** How to reach and authenticate to the API server: the resolved current context of a kubeconfig. */
export interface ClusterAccess {
  /** Where it came from, for messages: a file, KUBECONFIG, or the in-cluster ServiceAccount. */
  source: string;
  server: string;
  ca?: Buffer | undefined;
  cert?: Buffer | undefined;
  key?: Buffer | undefined;
  insecureSkipTlsVerify: boolean;
  tlsServerName?: string | undefined;
  /** The cluster's `proxy-url` (http or https): it wins over HTTPS_PROXY / NO_PROXY, as with kubectl. */
  proxyUrl?: string | undefined;
  credentials: Credentials;
}
