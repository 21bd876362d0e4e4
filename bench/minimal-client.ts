/**
 * "The limit": the least a client can do for a rotation — per namespace, create the new secret, write the
 * ServiceAccount's pull-secret list, delete the old secret — over one keep-alive connection pool with
 * bounded concurrency, no reads, no checks. What the API server itself can absorb.
 */
import { readFileSync } from 'node:fs';
import { Agent, fetch } from 'undici';

interface Target {
  server: string;
  ca: string;
  cert: string;
  key: string;
}

export function adminTarget(kubeconfigDir: string, server: string): Target {
  return {
    server,
    ca: readFileSync(`${kubeconfigDir}/ca.crt`, 'utf8'),
    cert: readFileSync(`${kubeconfigDir}/admin.crt`, 'utf8'),
    key: readFileSync(`${kubeconfigDir}/admin.key`, 'utf8'),
  };
}

export async function minimalRotation(
  t: Target,
  namespaces: readonly string[],
  data: string,
  foreign: string,
  concurrency = 16,
): Promise<void> {
  const agent = new Agent({
    connect: { ca: t.ca, cert: t.cert, key: t.key },
    connections: concurrency,
    keepAliveTimeout: 30_000,
  });
  const call = async (method: string, path: string, body: unknown, contentType = 'application/json') => {
    const res = await fetch(`${t.server}${path}`, {
      method,
      dispatcher: agent,
      headers: { 'content-type': contentType },
      body: JSON.stringify(body),
    });
    await res.text();
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status}`);
  };
  const queue = [...namespaces];
  const worker = async () => {
    for (let ns = queue.shift(); ns !== undefined; ns = queue.shift()) {
      await call('POST', `/api/v1/namespaces/${ns}/secrets`, {
        metadata: { name: 'regcred-new' },
        type: 'kubernetes.io/dockerconfigjson',
        data: { '.dockerconfigjson': data },
      });
      await call(
        'PATCH',
        `/api/v1/namespaces/${ns}/serviceaccounts/default`,
        { imagePullSecrets: [{ name: foreign }, { name: 'regcred-new' }] },
        'application/merge-patch+json',
      );
      await call('DELETE', `/api/v1/namespaces/${ns}/secrets/regcred-old`, {});
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  await agent.close();
}
