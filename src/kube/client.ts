import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  createConfiguration,
  ServerConfiguration,
  type Middleware,
  type RequestContext,
  type SecurityAuthentication,
} from '@kubernetes/client-node';
import { Agent } from 'undici';
import { RotatorError } from '../errors.ts';
import { UndiciHttpLibrary } from './http.ts';

export interface KubeConnectOptions {
  kubeconfig?: string | undefined;
  context?: string | undefined;
  requestTimeoutMs?: number | undefined;
}

const IN_CLUSTER_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * Loads cluster access the way kubectl does (--kubeconfig, then KUBECONFIG, then ~/.kube/config, then the
 * in-cluster ServiceAccount), but never falls back to client-node's silent http://localhost:8080.
 */
export function loadKubeConfig(opts: KubeConnectOptions): { kc: KubeConfig; source: string } {
  const kc = new KubeConfig();
  let source: string;
  const home = join(homedir(), '.kube', 'config');
  if (opts.kubeconfig) {
    if (!existsSync(opts.kubeconfig))
      throw new RotatorError('KUBE_NO_CLUSTER', `--kubeconfig ${opts.kubeconfig}: no such file`);
    kc.loadFromFile(opts.kubeconfig);
    source = opts.kubeconfig;
  } else if (process.env['KUBECONFIG']) {
    const files = process.env['KUBECONFIG'].split(':').filter((f) => f !== '');
    if (!files.some((f) => existsSync(f))) {
      throw new RotatorError(
        'KUBE_NO_CLUSTER',
        `KUBECONFIG names ${files.join(', ')}, but none of these files exists`,
      );
    }
    kc.loadFromDefault();
    source = `KUBECONFIG (${files.join(':')})`;
  } else if (existsSync(home)) {
    kc.loadFromFile(home);
    source = home;
  } else if (process.env['KUBERNETES_SERVICE_HOST'] && existsSync(IN_CLUSTER_TOKEN)) {
    kc.loadFromCluster();
    source = 'in-cluster ServiceAccount';
  } else {
    throw new RotatorError(
      'KUBE_NO_CLUSTER',
      'no Kubernetes cluster configured: pass --kubeconfig, set KUBECONFIG, create ~/.kube/config, or run in a pod ' +
        '(the client library would silently use http://localhost:8080; the rotator refuses to)',
    );
  }
  if (opts.context) {
    if (!kc.getContextObject(opts.context)) {
      throw new RotatorError(
        'USAGE',
        `--context ${opts.context}: no such context in ${source} (contexts: ${
          kc
            .getContexts()
            .map((c) => c.name)
            .join(', ') || 'none'
        })`,
      );
    }
    kc.setCurrentContext(opts.context);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster?.server) {
    throw new RotatorError(
      'KUBE_NO_CLUSTER',
      `${source}: the current context "${kc.getCurrentContext()}" names no cluster with a server`,
    );
  }
  if (/^http:\/\/(localhost|127\.0\.0\.1):8080\/?$/.test(cluster.server) && cluster.name === 'cluster') {
    throw new RotatorError(
      'KUBE_NO_CLUSTER',
      "refusing the client library's fallback cluster http://localhost:8080: configure a real kubeconfig",
    );
  }
  return { kc, source };
}

/** How long resolved credentials (headers, TLS files) are reused before client-node resolves them again. */
const CREDENTIAL_REFRESH_MS = 10_000;

interface ResolvedAuth {
  headers: [string, string][];
  agent: Agent;
  at: number;
}

/**
 * client-node builds a new undici Agent (and so a new TLS connection) and re-reads the kubeconfig's
 * certificate files on every request. This resolves credentials at most every 10 s (token files and exec
 * plugins rotate on a scale of minutes) and keeps one pooled, keep-alive Agent per set of TLS material.
 */
class PooledAuth implements SecurityAuthentication {
  readonly #kc: KubeConfig;
  #resolved: ResolvedAuth | undefined;
  #pending: Promise<ResolvedAuth> | undefined;
  #agentKey = '';

  constructor(kc: KubeConfig) {
    this.#kc = kc;
  }

  getName(): string {
    return 'pooled kubeconfig authentication';
  }

  async #resolve(): Promise<ResolvedAuth> {
    const opts: {
      headers?: Record<string, unknown>;
      ca?: unknown;
      cert?: unknown;
      key?: unknown;
      auth?: string;
      rejectUnauthorized?: boolean;
      servername?: string;
    } = {};
    await this.#kc.applyToHTTPSOptions(opts);
    const headers: [string, string][] = Object.entries(opts.headers ?? {}).map(([k, v]) => [k, String(v)]);
    if (opts.auth) headers.push(['Authorization', `Basic ${Buffer.from(opts.auth).toString('base64')}`]);
    const tls = {
      ca: opts.ca,
      cert: opts.cert,
      key: opts.key,
      rejectUnauthorized: opts.rejectUnauthorized,
      servername: opts.servername,
    };
    const key = createHash('sha256')
      .update(JSON.stringify(tls, (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString('base64') : v)))
      .digest('hex');
    let agent = this.#resolved?.agent;
    if (key !== this.#agentKey || !agent) {
      void agent?.close();
      agent = new Agent({ connect: tls as never, keepAliveTimeout: 30_000, connections: 64 });
      this.#agentKey = key;
    }
    return { headers, agent, at: Date.now() };
  }

  async applySecurityAuthentication(context: RequestContext): Promise<void> {
    if (this.#kc.getCurrentCluster()?.proxyUrl) {
      await this.#kc.applySecurityAuthentication(context);
      return;
    }
    let r = this.#resolved;
    if (!r || Date.now() - r.at > CREDENTIAL_REFRESH_MS) {
      this.#pending ??= this.#resolve().finally(() => (this.#pending = undefined));
      r = this.#resolved = await this.#pending;
    }
    for (const [k, v] of r.headers) context.setHeaderParam(k, v);
    context.setDispatcher(r.agent);
  }

  async close(): Promise<void> {
    await this.#resolved?.agent.close();
  }
}

function timeoutMiddleware(ms: number): Middleware {
  return {
    pre: async (ctx) => {
      ctx.setSignal(AbortSignal.timeout(ms));
      return ctx;
    },
    post: async (res) => res,
  };
}

export interface KubeClients {
  kc: KubeConfig;
  source: string;
  server: string;
  core: CoreV1Api;
  coordination: CoordinationV1Api;
  close(): Promise<void>;
}

/** Builds the API clients: our pooled auth, a timeout on every request, the server from the kubeconfig. */
export function connectKube(opts: KubeConnectOptions): KubeClients {
  const { kc, source } = loadKubeConfig(opts);
  const server = kc.getCurrentCluster()?.server ?? '';
  const auth = new PooledAuth(kc);
  const config = createConfiguration({
    baseServer: new ServerConfiguration(server, {}),
    authMethods: { default: auth },
    promiseMiddleware: [timeoutMiddleware(opts.requestTimeoutMs ?? 30_000)],
    httpApi: new UndiciHttpLibrary(),
  });
  return {
    kc,
    source,
    server,
    core: new CoreV1Api(config),
    coordination: new CoordinationV1Api(config),
    close: () => auth.close(),
  };
}
