import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterAccess } from './access.ts';

/** Where the kubelet mounts a pod's ServiceAccount token, CA and namespace. */
const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The pod's own ServiceAccount, when we run in a pod: its token (re-read as the kubelet rotates it) and CA. */
export function inCluster(): ClusterAccess | undefined {
  if (!process.env['KUBERNETES_SERVICE_HOST'] || !existsSync(join(SA_DIR, 'token'))) return undefined;
  const host = process.env['KUBERNETES_SERVICE_HOST'] ?? '';
  const port = process.env['KUBERNETES_SERVICE_PORT'] ?? '443';
  return {
    source: 'in-cluster ServiceAccount',
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    ca: readFileSync(join(SA_DIR, 'ca.crt')),
    insecureSkipTlsVerify: false,
    credentials: { kind: 'token-file', path: join(SA_DIR, 'token') },
  };
}

/**
 * The namespace of the pod we run in (for `lock.namespace`): POD_NAMESPACE, which the manifests set from the
 * downward API (`metadata.namespace`: the pod's own, whatever mounts it has), else the namespace file beside
 * an automounted ServiceAccount token. Undefined outside a pod unless POD_NAMESPACE is set.
 */
export function podNamespace(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const fromEnv = env['POD_NAMESPACE']?.trim();
  if (fromEnv) return fromEnv;
  const f = join(SA_DIR, 'namespace');
  return env['KUBERNETES_SERVICE_HOST'] && existsSync(f)
    ? readFileSync(f, 'utf8').trim() || undefined
    : undefined;
}
