/**
 * The benches' setup writes (namespaces, Secrets, ServiceAccounts, pods): one keep-alive pool of
 * connections with the stack's admin certificate, no client library. Creating 10,000 to 50,000 namespaces
 * through @kubernetes/client-node ran at ~7 namespaces a second on a loaded 2-core machine, the bench's own
 * CPU the limit; this writes as fast as the API server answers (80+ a second there). A busy API server (429,
 * 5xx) or a dropped connection is retried; a create that finds its object (409: a retry after a lost answer,
 * or the controller-manager was first) counts as done unless `onConflict` says otherwise.
 */
import { Agent, fetch } from 'undici';
import { withRetry } from '../src/base/retry.ts';
import { adminTarget } from './minimal-client.ts';

export class SetupError extends Error {
  readonly status: number;
  constructor(message: string, status: number) {
    super(message);
    this.status = status;
  }
}

export class SetupClient {
  readonly #agent: Agent;
  readonly #server: string;

  constructor(pkiDir: string, server: string, connections = 64) {
    const t = adminTarget(pkiDir, server);
    this.#server = t.server;
    this.#agent = new Agent({
      connect: { ca: t.ca, cert: t.cert, key: t.key },
      connections,
      keepAliveTimeout: 30_000,
    });
  }

  /** One request; retried while the API server is busy or the connection drops. */
  async call(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
  ): Promise<number> {
    return withRetry(
      async () => {
        const res = await fetch(`${this.#server}${path}`, {
          method,
          dispatcher: this.#agent,
          headers: { 'content-type': contentType },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        const text = await res.text();
        if (res.status === 409 || res.status < 300) return res.status;
        throw new SetupError(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`, res.status);
      },
      {
        attempts: 8,
        baseMs: 250,
        maxMs: 4000,
        decide: (e) => ({
          retry: e instanceof SetupError ? e.status === 429 || e.status >= 500 : true,
        }),
      },
    );
  }

  namespace(name: string, labels: Record<string, string>): Promise<number> {
    return this.call('POST', '/api/v1/namespaces', { metadata: { name, labels } });
  }

  dockerSecret(namespace: string, name: string, dockerconfigjson: string): Promise<number> {
    return this.call('POST', `/api/v1/namespaces/${namespace}/secrets`, {
      metadata: { name },
      type: 'kubernetes.io/dockerconfigjson',
      data: { '.dockerconfigjson': dockerconfigjson },
    });
  }

  /** The `default` ServiceAccount with these pull secrets: created, or (the controller was first) patched. */
  async defaultServiceAccount(namespace: string, pulls: readonly string[]): Promise<void> {
    const imagePullSecrets = pulls.map((name) => ({ name }));
    const status = await this.call('POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, {
      metadata: { name: 'default' },
      imagePullSecrets,
    });
    if (status === 409)
      await this.call(
        'PATCH',
        `/api/v1/namespaces/${namespace}/serviceaccounts/default`,
        { imagePullSecrets },
        'application/merge-patch+json',
      );
  }

  pod(namespace: string, name: string, spec: Record<string, unknown>): Promise<number> {
    return this.call('POST', `/api/v1/namespaces/${namespace}/pods`, { metadata: { name }, spec });
  }

  close(): Promise<void> {
    return this.#agent.close();
  }
}
