import { readFileSync } from 'node:fs';
import type * as http from 'node:http';
import * as https from 'node:https';
import * as tls from 'node:tls';
import { proxyFor, showProxy, UnsupportedProxy } from './proxy.ts';

/**
 * node:http through the CommonJS loader: importing it as an ES module evaluates every lazy export,
 * which loads Node's bundled fetch and WebSocket (~70 ms at start-up) for nothing.
 */
const plainHttp = (): typeof http => process.getBuiltinModule('node:http');

/** Why a request got no HTTP answer, in words an operator can act on. */
export type NetworkFailure =
  | 'timeout'
  | 'aborted'
  | 'refused'
  | 'dns'
  | 'tls'
  | 'reset'
  /** The proxy could not be reached (or the proxy setting cannot be used). */
  | 'proxy'
  /** The proxy answered, and refused to connect to the target (an ACL, most often): trying again will not help. */
  | 'proxy-refused'
  | 'other';

export class NetworkError extends Error {
  readonly kind: NetworkFailure;
  constructor(kind: NetworkFailure, message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'NetworkError';
    this.kind = kind;
  }
}

/**
 * Agent options that route every request through `proxy`, or none (`proxyEnv: {}` rather than nothing: a
 * process started with NODE_USE_ENV_PROXY=1 would otherwise apply Node's own NO_PROXY rules beside ours).
 */
export const proxyAgentOptions = (proxy: URL | undefined): { proxyEnv: Record<string, string> } => ({
  proxyEnv: proxy ? { HTTPS_PROXY: proxy.href, HTTP_PROXY: proxy.href } : {},
});

export interface PoolOptions {
  /** The config key that sets this caller's CA, named in TLS errors (`stores.vault.caFile`). */
  caSetting?: string | undefined;
  /** Trust `caFile` beside the default roots and NODE_EXTRA_CA_CERTS, instead of in their place. */
  addToDefaults?: boolean | undefined;
}

/** Where a request goes: the agent, and the proxy it passes through (for messages). */
export interface Route {
  agent: http.Agent;
  proxy?: URL | undefined;
}

/**
 * Keep-alive connections for one caller's requests, direct or through the proxy that HTTPS_PROXY /
 * HTTP_PROXY / NO_PROXY name for each URL (net/proxy.ts). Requests given neither a pool nor an agent use a
 * shared default pool.
 */
export class ConnectionPool {
  readonly #ca: string | string[] | undefined;
  readonly #caFile: string | undefined;
  readonly #o: PoolOptions;
  readonly #agents = new Map<string, http.Agent>();

  /** Trusts only the CA in `caFile` (or, with `addToDefaults`, it too), or the default roots plus NODE_EXTRA_CA_CERTS. */
  constructor(caFile?: string, options: PoolOptions = {}) {
    const ca = caFile === undefined ? undefined : readFileSync(caFile, 'utf8');
    this.#caFile = caFile;
    this.#o = options;
    this.#ca = ca !== undefined && options.addToDefaults ? [...tls.getCACertificates('default'), ca] : ca;
  }

  route(url: URL): Route {
    const proxy = proxyFor(url);
    const key = `${url.protocol}${proxy?.href ?? ''}`;
    let agent = this.#agents.get(key);
    if (!agent) {
      const opts = { keepAlive: true, ...proxyAgentOptions(proxy) };
      agent =
        url.protocol === 'https:'
          ? new https.Agent({ ...opts, ...(this.#ca === undefined ? {} : { ca: this.#ca }) })
          : new (plainHttp().Agent)(opts);
      this.#agents.set(key, agent);
    }
    return { agent, proxy };
  }

  agentFor(url: URL): http.Agent {
    return this.route(url).agent;
  }

  /** What to do about a certificate this pool does not trust. */
  get tlsAdvice(): string {
    const setting = this.#o.caSetting;
    if (this.#caFile === undefined)
      return `trust its CA with ${setting ? `${setting} or ` : ''}NODE_EXTRA_CA_CERTS`;
    return `its certificate is not signed by the CA in ${this.#caFile}${setting ? ` (${setting})` : ''}`;
  }

  close(): void {
    for (const a of this.#agents.values()) a.destroy();
    this.#agents.clear();
  }
}

let shared: ConnectionPool | undefined;
const defaultPool = (): ConnectionPool => (shared ??= new ConnectionPool());

export interface HttpOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** A hard limit over the whole exchange; 0 for none (a watch stream is long). */
  timeoutMs: number;
  pool?: ConnectionPool | undefined;
  /** An agent of the caller's own (the Kubernetes client's: its CA, client certificate, socket limit). */
  agent?: http.Agent | undefined;
  /** With `agent`: the proxy that agent goes through, for messages. */
  proxy?: URL | undefined;
  /** With `agent`: what to do about an untrusted certificate (a pool says it itself). */
  tlsAdvice?: string | undefined;
  /** Stops the request (it then fails as an `aborted` NetworkError). */
  signal?: AbortSignal | undefined;
}

/** The response headers, looked up case-insensitively like `fetch`'s `Headers`. */
export interface ResponseHeaders {
  get(name: string): string | null;
}

export interface HttpResponse {
  status: number;
  headers: ResponseHeaders;
  text: string;
}

class Timeout extends Error {
  override readonly name = 'TimeoutError';
}

interface Context {
  url: URL;
  timeoutMs: number;
  proxy: URL | undefined;
  tlsAdvice: string;
}

const errorCode = (e: unknown): string => {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' ? code : '';
};

/** A failure to reach the proxy itself, or the proxy refusing the tunnel: the target was never contacted. */
function proxyFailure(e: unknown, c: string, x: Context & { proxy: URL }): NetworkError | undefined {
  const p = showProxy(x.proxy);
  const target = x.url.host;
  const why = 'the target was not contacted; allow it at the proxy, or list it in NO_PROXY';
  if (c === 'ERR_PROXY_TUNNEL') {
    const status = /HTTP\/\d(?:\.\d)? (\d{3}[^\r\n]*)/.exec((e as Error).message)?.[1];
    return new NetworkError(
      'proxy-refused',
      `the proxy ${p} refused to open a tunnel to ${target}${status ? ` (${status.trim()})` : ''}: ${why}`,
      e,
    );
  }
  // Where the failed connection went (Node puts it on the error): the proxy's port, or its host name.
  const at = e as { address?: unknown; port?: unknown; hostname?: unknown };
  const proxyPort = Number(x.proxy.port || (x.proxy.protocol === 'https:' ? 443 : 80));
  const atProxy =
    (at.hostname !== undefined && at.hostname === x.proxy.hostname) ||
    (at.port === proxyPort && at.address !== undefined);
  if (!atProxy) return undefined;
  const what =
    c === 'ECONNREFUSED'
      ? 'refused the connection'
      : c === 'ENOTFOUND' || c === 'EAI_AGAIN'
        ? 'cannot be resolved'
        : c === 'ETIMEDOUT'
          ? 'did not accept the connection in time'
          : `failed (${c})`;
  return new NetworkError('proxy', `the proxy ${p} (for ${target}) ${what}: ${why}`, e);
}

function classify(e: unknown, x: Context): NetworkError {
  if (e instanceof NetworkError) return e;
  const host = x.url.host;
  const via = x.proxy ? ` (through the proxy ${showProxy(x.proxy)})` : '';
  if (e instanceof Timeout)
    return new NetworkError('timeout', `no answer from ${x.url.href} within ${x.timeoutMs} ms${via}`, e);
  if (e instanceof Error && e.name === 'AbortError')
    return new NetworkError('aborted', `request to ${host} stopped`, e);
  const c = errorCode(e);
  const viaProxy = x.proxy ? proxyFailure(e, c, { ...x, proxy: x.proxy }) : undefined;
  if (viaProxy) return viaProxy;
  if (c === 'ECONNREFUSED')
    return new NetworkError('refused', `connection to ${host} refused (is it running?)${via}`, e);
  if (c === 'ENOTFOUND' || c === 'EAI_AGAIN')
    return new NetworkError('dns', `cannot resolve host ${host}${via}`, e);
  if (c === 'ECONNRESET' || c === 'EPIPE')
    return new NetworkError('reset', `connection to ${host} was reset${via}`, e);
  if (c === 'ETIMEDOUT') return new NetworkError('timeout', `connecting to ${host} timed out${via}`, e);
  if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY/.test(c))
    return new NetworkError('tls', `TLS with ${host} failed (${c}): ${x.tlsAdvice}`, e);
  return new NetworkError('other', `request to ${host} failed${c ? ` (${c})` : ''}${via}`, e);
}

function headersOf(h: http.IncomingHttpHeaders): ResponseHeaders {
  return {
    get: (name) => {
      const v = h[name.toLowerCase()];
      return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
    },
  };
}

/**
 * One exchange. With `onText`, a successful answer (< 400) is handed over as it arrives, decoded, a piece
 * at a time (its `text` is then empty); an error answer is always read whole.
 */
function send(
  url: URL,
  opts: HttpOptions,
  agent: http.Agent,
  onText?: (text: string) => void,
): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    let timedOut = false;
    const fail = (e: Error): void => reject(timedOut ? new Timeout() : e);
    const lib = url.protocol === 'https:' ? https : plainHttp();
    const req = lib.request(url, {
      method: opts.method ?? 'GET',
      headers: opts.headers,
      agent,
      signal: opts.signal,
    });
    const timer =
      opts.timeoutMs > 0
        ? setTimeout(() => {
            timedOut = true;
            req.destroy(new Timeout());
          }, opts.timeoutMs)
        : undefined;
    req.on('close', () => clearTimeout(timer));
    req.on('error', fail);
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      const done = (text: string) => resolve({ status, headers: headersOf(res.headers), text });
      res.on('error', fail);
      if (onText && status < 400) {
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          try {
            onText(c);
          } catch (e) {
            // What the caller cannot take (text that is not JSON) ends the exchange as a failure.
            req.destroy(e instanceof Error ? e : new Error(String(e)));
          }
        });
        res.on('end', () => done(''));
        return;
      }
      // Decoded as it arrives: a chunk kept as a Buffer until the end outlives young-generation collections
      // when pages overlap, and its memory then waits for a full collection (tens of MB over a long list).
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => done(text));
    });
    req.end(opts.body);
  });
}

/** The agent for a request and what messages say about its failures. */
function prepare(url: string, opts: HttpOptions): { u: URL; agent: http.Agent; x: Context } {
  const u = new URL(url);
  const base = { url: u, timeoutMs: opts.timeoutMs };
  if (opts.agent)
    return {
      u,
      agent: opts.agent,
      x: { ...base, proxy: opts.proxy, tlsAdvice: opts.tlsAdvice ?? 'trust its CA with NODE_EXTRA_CA_CERTS' },
    };
  const pool = opts.pool ?? defaultPool();
  try {
    const r = pool.route(u);
    return { u, agent: r.agent, x: { ...base, proxy: r.proxy, tlsAdvice: pool.tlsAdvice } };
  } catch (e) {
    if (e instanceof UnsupportedProxy) throw new NetworkError('proxy', e.message, e);
    throw e;
  }
}

/**
 * One HTTP(S) request with a hard timeout over the whole exchange; redirects are returned, not followed.
 * Network failures become a classified `NetworkError`. Built on node:http(s) rather than `fetch`:
 * a run makes a handful of these, and loading a fetch implementation cost more than all of them.
 */
export async function httpRequest(url: string, opts: HttpOptions): Promise<HttpResponse> {
  const { u, agent, x } = prepare(url, opts);
  try {
    return await send(u, opts, agent);
  } catch (e) {
    throw classify(e, x);
  }
}

/**
 * A streaming request (a watch, a long list): `onText` gets a successful answer's text as it arrives, a
 * piece at a time (`lines` cuts it into lines); resolves when the server ends the answer. What `onText`
 * throws fails the request. An error answer (≥ 400) resolves whole, as httpRequest's.
 */
export async function httpStream(
  url: string,
  opts: HttpOptions,
  onText: (text: string) => void,
): Promise<HttpResponse> {
  const { u, agent, x } = prepare(url, opts);
  try {
    return await send(u, opts, agent, onText);
  } catch (e) {
    throw classify(e, x);
  }
}

/** Text pieces to `onLine`, one non-empty line at a time (a watch's answer: one JSON object a line). */
export function lines(onLine: (line: string) => void): (text: string) => void {
  let buf = '';
  return (text) => {
    buf += text;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.trim() !== '') onLine(line);
    }
  };
}

/** Parses a JSON body leniently: undefined when it is not JSON. */
export function jsonBody(res: HttpResponse): unknown {
  try {
    return JSON.parse(res.text) as unknown;
  } catch {
    return undefined;
  }
}
