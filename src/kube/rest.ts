import { Agent } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import {
  httpRequest,
  httpStream,
  lines,
  proxyAgentOptions,
  type HttpOptions,
  type HttpResponse,
} from '../net/http.ts';
import { JsonItems } from '../net/json-items.ts';
import { parseProxyUrl, proxyFor, UnsupportedProxy } from '../net/proxy.ts';
import { RotatorError } from '../errors.ts';
import { failureCode, requestLabels, type KubeRequestObserver } from './request-labels.ts';
import { Authenticator } from './auth.ts';
import type { ClusterAccess } from './access.ts';

/** An HTTP answer the API server gave with a status ≥ 400 (mapped to a RotatorError by kube/errors.ts). */
export class KubeHttpError extends Error {
  readonly code: number;
  readonly body: string;
  readonly headers: Record<string, string>;
  constructor(code: number, body: string, headers: IncomingHttpHeaders) {
    super(`HTTP ${code}`);
    this.name = 'KubeHttpError';
    this.code = code;
    this.body = body;
    this.headers = Object.fromEntries(
      Object.entries(headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]),
    );
  }
}

export type Query = Record<string, string | number | boolean | undefined>;

export const FIELD_MANAGER = 'regcred-rotator';
/** How the API server (audit log, request metrics) tells our requests apart. */
const USER_AGENT = `regcred-rotator (node ${process.version})`;

export interface RequestSpec {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  query?: Query | undefined;
  body?: unknown;
  contentType?: string | undefined;
}

const withQuery = (path: string, q: Query | undefined): string => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q ?? {})) if (v !== undefined && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `${path}?${s}` : path;
};

/**
 * The Kubernetes REST API over the project's one HTTP stack (net/http.ts): its own keep-alive pool (the
 * cluster's CA and client certificate), a timeout on every request, JSON in and out, credentials from the
 * kubeconfig (re-resolved as they rotate; one retry after a 401 for rotating ones). No model layer: callers
 * reduce what they read to their own types as it arrives.
 */
export class KubeRest {
  readonly server: string;
  readonly source: string;
  readonly #access: ClusterAccess;
  readonly #auth: Authenticator;
  readonly #timeoutMs: number;
  /** The proxy every request goes through: the kubeconfig's proxy-url, else HTTPS_PROXY unless NO_PROXY covers the server. */
  readonly #proxy: URL | undefined;
  #agent: Agent | undefined;
  #agentCert: Buffer | undefined;

  constructor(access: ClusterAccess, timeoutMs: number) {
    this.#access = access;
    this.server = access.server;
    this.source = access.source;
    this.#auth = new Authenticator(access);
    this.#timeoutMs = timeoutMs;
    try {
      this.#proxy =
        access.proxyUrl === undefined ? proxyFor(new URL(access.server)) : parseProxyUrl(access.proxyUrl);
    } catch (e) {
      if (e instanceof UnsupportedProxy) throw new RotatorError('USAGE', e.message);
      throw e;
    }
  }

  /** The proxy requests go through, if any (for logs). */
  get proxy(): URL | undefined {
    return this.#proxy;
  }

  #agentFor(cert: Buffer | undefined, key: Buffer | undefined): Agent {
    if (!this.#agent || this.#agentCert !== cert) {
      this.#agent?.destroy();
      const a = this.#access;
      this.#agent = new Agent({
        keepAlive: true,
        maxSockets: 64,
        ca: a.ca,
        cert: cert ?? a.cert,
        key: key ?? a.key,
        rejectUnauthorized: !a.insecureSkipTlsVerify,
        servername: a.tlsServerName,
        ...proxyAgentOptions(this.#proxy),
      });
      this.#agentCert = cert;
    }
    return this.#agent;
  }

  async #options(spec: RequestSpec, signal: AbortSignal | undefined): Promise<HttpOptions & { url: string }> {
    const auth = await this.#auth.resolve();
    // Our writes are ours in managedFields (who changed what, and when, as the API server records it).
    const query =
      spec.method === 'GET' || spec.method === 'DELETE'
        ? spec.query
        : { fieldManager: FIELD_MANAGER, ...spec.query };
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': USER_AGENT };
    if (auth.authorization) headers['authorization'] = auth.authorization;
    const body = spec.body === undefined ? undefined : JSON.stringify(spec.body);
    if (body !== undefined) {
      headers['content-type'] = spec.contentType ?? 'application/json';
      // A sized body, never chunked: after a chunked DELETE body the API server's HTTP layer can misread
      // the next request on the same keep-alive connection (a plain "400 Bad Request").
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    return {
      url: new URL(withQuery(spec.path, query), this.server).href,
      method: spec.method,
      headers,
      body,
      timeoutMs: this.#timeoutMs,
      agent: this.#agentFor(auth.cert, auth.key),
      proxy: this.#proxy,
      tlsAdvice: "check the kubeconfig's certificate-authority",
      signal,
    };
  }

  /** Told of every request and its outcome (request metrics); set by whoever keeps metrics. */
  observer: KubeRequestObserver | undefined;

  /** One exchange, timed and reported to the observer. */
  async #exchange<R extends HttpResponse>(spec: RequestSpec, send: () => Promise<R>): Promise<R> {
    const started = performance.now();
    const report = (code: string) => {
      if (!this.observer) return;
      const watch = spec.query?.['watch'] !== undefined;
      const seconds = (performance.now() - started) / 1000;
      this.observer({ ...requestLabels(spec.method, spec.path, watch), code, seconds });
    };
    try {
      const res = await send();
      report(String(res.status));
      return res;
    } catch (e) {
      report(failureCode(e));
      throw e;
    }
  }

  /** One request; resolves with the parsed JSON body, or throws KubeHttpError / a NetworkError. */
  async json<T>(spec: RequestSpec, signal?: AbortSignal): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const { url, ...opts } = await this.#options(spec, signal);
      const res = await this.#exchange(spec, () => httpRequest(url, opts));
      if (res.status === 401 && attempt === 0 && this.#auth.refreshable) {
        this.#auth.invalidate();
        continue;
      }
      if (res.status >= 400) throw httpError(res);
      return (res.text === '' ? {} : JSON.parse(res.text)) as T;
    }
  }

  /**
   * One page of a list: `onItem` gets each of its items, parsed alone, as the answer arrives (JsonItems);
   * resolves with the rest of the answer (its `metadata`; `items` empty). Fails as `json` does; a failure
   * after some items were handed over fails the page (the caller starts it again from nothing).
   */
  async list<T>(spec: RequestSpec, onItem: (item: unknown) => void, signal?: AbortSignal): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const { url, ...opts } = await this.#options(spec, signal);
      const items = new JsonItems(onItem);
      let received = 0;
      const res = await this.#exchange(spec, () =>
        httpStream(url, opts, (text) => {
          received += text.length;
          items.write(text);
        }),
      );
      if (res.status === 401 && attempt === 0 && this.#auth.refreshable) {
        this.#auth.invalidate();
        continue;
      }
      if (res.status >= 400) throw httpError(res);
      return (received === 0 ? {} : items.end()) as T;
    }
  }

  /**
   * A streaming GET (a watch): calls `onObject` for each JSON line as it arrives; resolves when the server
   * ends the stream, rejects on errors or when `signal` aborts. No request timeout: watches are long.
   */
  async stream(spec: RequestSpec, onObject: (o: unknown) => void, signal: AbortSignal): Promise<void> {
    const { url, ...opts } = await this.#options(spec, signal);
    const res = await this.#exchange(spec, () =>
      httpStream(
        url,
        { ...opts, timeoutMs: 0 },
        lines((line) => onObject(JSON.parse(line))),
      ),
    );
    if (res.status >= 400) throw httpError(res);
  }

  close(): void {
    this.#agent?.destroy();
  }
}

const httpError = (res: HttpResponse): KubeHttpError =>
  new KubeHttpError(res.status, res.text, { 'retry-after': res.headers.get('retry-after') ?? undefined });
