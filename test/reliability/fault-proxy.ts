/**
 * A small HTTPS proxy between the rotator and a server (the API server, a registry's API, a secret store)
 * that injects faults: 429 with Retry-After, 500/503, connection resets, 2 s latency, and a dropped response
 * after the server applied a write — at a rate, or once for the next request that matches. It can also hold
 * one matching request, before or after the server applied it, so a test can kill the rotator at exactly
 * that step. It forwards every header unchanged (the rotator uses a token kubeconfig pointed at the proxy).
 */
import { createServer, type Server } from 'node:https';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { env } from '../helpers/stack.ts';

/** A kubeconfig in `dir` for the stack's admin, pointed at a proxy listening on `port`; its path. */
export function proxiedKubeconfig(dir: string, port: number): string {
  const f = join(dir, 'proxy.kubeconfig');
  writeFileSync(
    f,
    `apiVersion: v1\nkind: Config\nclusters: [{ name: p, cluster: { server: "https://127.0.0.1:${port}", certificate-authority: "${env('REGCRED_STACK_CA')}" } }]\nusers: [{ name: admin, user: { token: "${env('REGCRED_STACK_ADMIN_TOKEN')}" } }]\ncontexts: [{ name: p, context: { cluster: p, user: admin } }]\ncurrent-context: p\n`,
  );
  return f;
}

export type Fault =
  | '429'
  | '500'
  | '503'
  | 'reset'
  | 'latency'
  | 'drop-after-apply'
  /** Watches: the stream is cut after a moment, answered 410 Gone, or its events are held back. */
  | 'watch-cut'
  | 'watch-410'
  | 'watch-delay';

const WATCH_FAULTS: readonly Fault[] = ['watch-cut', 'watch-410', 'watch-delay'];

/** Which requests a targeted fault or a hold applies to; every field given must match. */
export interface RequestMatch {
  method?: RegExp | undefined;
  /** Tested against the path with its query. */
  path?: RegExp | undefined;
  /** Tested against the request body as text. */
  body?: RegExp | undefined;
  /** Let this many matching requests through first. */
  skip?: number | undefined;
}

/** A request the proxy holds: never answered, and (held `before`) never forwarded either. */
export interface Held {
  /** Resolves once a matching request is held: before it was forwarded, or after the server answered it. */
  readonly reached: Promise<{ method: string; path: string }>;
  /** Ends the held exchange by closing its connection without an answer. */
  drop(): void;
}

interface Pending {
  match: RequestMatch;
  skipped: number;
}

const matches = (p: Pending, method: string, url: string, body: Buffer): boolean =>
  (p.match.method === undefined || p.match.method.test(method)) &&
  (p.match.path === undefined || p.match.path.test(url)) &&
  (p.match.body === undefined || p.match.body.test(body.toString('utf8')));

export class FaultProxy {
  readonly stats: Record<Fault | 'forwarded', number> = {
    '429': 0,
    '500': 0,
    '503': 0,
    reset: 0,
    latency: 0,
    'drop-after-apply': 0,
    'watch-cut': 0,
    'watch-410': 0,
    'watch-delay': 0,
    forwarded: 0,
  };
  #server: Server | undefined;
  #agent: Agent;
  // Two seeded streams: watches draw from their own, so which watch is faulted does not depend on how many
  // ordinary requests the rotator happened to make in between (with one stream, a run could see none).
  #seeds: { requests: number; watches: number };
  rate: number;
  faults: Fault[];
  /** Faults the next request each applies to gets, whatever the rate (see failNext), in the order given. */
  #next: (Pending & { fault: Fault })[] = [];
  #holds: (Pending & { after: boolean; reached: (r: { method: string; path: string }) => void })[] = [];
  #held = new Set<import('node:net').Socket>();

  /**
   * The next request `fault` applies to (a write, for 'drop-after-apply'; one that `match` matches, when
   * given) gets it; then the rate rules again. Several may wait at once, each for its own request.
   */
  failNext(fault: Fault, match: RequestMatch = {}): void {
    this.#next.push({ fault, match, skipped: 0 });
  }

  /**
   * Holds the next request that `match` matches: `before` the server sees it, or `after` the server applied
   * it and answered (the answer is kept back). The rotator waits for an answer that never comes: the test
   * kills it at exactly that step, then drops the exchange.
   */
  hold(match: RequestMatch, when: 'before' | 'after'): Held {
    let resolve: (r: { method: string; path: string }) => void = () => undefined;
    const reached = new Promise<{ method: string; path: string }>((r) => (resolve = r));
    this.#holds.push({ match, skipped: 0, after: when === 'after', reached: resolve });
    return {
      reached,
      drop: () => {
        for (const s of this.#held) s.destroy();
        this.#held.clear();
      },
    };
  }

  /** Whether `p` applies to this request now (counting the matches it lets through first). */
  #applies(p: Pending, method: string, url: string, body: Buffer): boolean {
    if (!matches(p, method, url, body)) return false;
    if (p.skipped < (p.match.skip ?? 0)) {
      p.skipped++;
      return false;
    }
    return true;
  }

  readonly upstream: string;
  /** Retry-After of a 429 (seconds); a 500/503 carries one only when `retryAfterSeconds` was given. */
  readonly #retryAfter: { throttled: string; unavailable: string | undefined };
  /** Every request the proxy saw (watches aside), in order: when, what, and the fault it answered with. */
  readonly requests: { at: number; method: string; path: string; fault?: Fault | undefined }[] = [];

  constructor(
    upstream: string,
    pki: string,
    opts: { rate: number; faults: Fault[]; seed?: number; retryAfterSeconds?: number },
  ) {
    this.upstream = upstream;
    const after = opts.retryAfterSeconds === undefined ? undefined : String(opts.retryAfterSeconds);
    this.#retryAfter = { throttled: after ?? '1', unavailable: after };
    this.rate = opts.rate;
    this.faults = opts.faults;
    const seed = opts.seed ?? 12345;
    this.#seeds = { requests: seed, watches: seed + 1 };
    this.#agent = new Agent({ connect: { ca: readFileSync(join(pki, 'ca.crt'), 'utf8') } });
    this.#server = createServer(
      { cert: readFileSync(join(pki, 'serving.crt')), key: readFileSync(join(pki, 'serving.key')) },
      (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => void this.#handle(req, res, Buffer.concat(chunks)));
      },
    );
  }

  #random(stream: 'requests' | 'watches'): number {
    this.#seeds[stream] = (this.#seeds[stream] * 48271) % 2147483647;
    return this.#seeds[stream] / 2147483647;
  }

  async listen(): Promise<number> {
    await new Promise<void>((r) => this.#server?.listen(0, '127.0.0.1', () => r()));
    return (this.#server?.address() as { port: number }).port;
  }

  async close(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise((r) => this.#server?.close(r));
    await this.#agent.close();
  }

  async #handle(
    req: import('node:http').IncomingMessage,
    res: import('node:http').ServerResponse,
    body: Buffer,
  ): Promise<void> {
    const write = req.method !== 'GET';
    const watch = /[?&]watch=(1|true)/.test(req.url ?? '');
    const stream = watch ? 'watches' : 'requests';
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const hold = watch ? -1 : this.#holds.findIndex((h) => this.#applies(h, method, url, body));
    if (hold >= 0) {
      const [h] = this.#holds.splice(hold, 1);
      if (h) await this.#hold(h, req, body);
      return;
    }
    let fault: Fault | undefined;
    const next = watch
      ? -1
      : this.#next.findIndex(
          (n) => (n.fault !== 'drop-after-apply' || write) && this.#applies(n, method, url, body),
        );
    if (next >= 0) {
      fault = this.#next.splice(next, 1)[0]?.fault;
    } else if (this.faults.length > 0 && this.#random(stream) < this.rate) {
      const eligible = this.faults.filter(
        (f) => (f !== 'drop-after-apply' || write) && WATCH_FAULTS.includes(f) === watch,
      );
      fault = eligible[Math.floor(this.#random(stream) * eligible.length)];
    }
    if (watch) {
      if (fault) this.stats[fault]++;
      await this.#watch(req, res, fault);
      return;
    }
    if (fault) this.stats[fault]++;
    this.requests.push({ at: Date.now(), method, path: url, fault });
    switch (fault) {
      case '429':
        res
          .writeHead(429, { 'retry-after': this.#retryAfter.throttled, 'content-type': 'application/json' })
          .end('{"kind":"Status","status":"Failure","reason":"TooManyRequests","code":429}');
        return;
      case '500':
      case '503':
        res
          .writeHead(Number(fault), {
            'content-type': 'application/json',
            ...(this.#retryAfter.unavailable ? { 'retry-after': this.#retryAfter.unavailable } : {}),
          })
          .end(`{"kind":"Status","status":"Failure","code":${fault}}`);
        return;
      case 'reset':
        req.socket.destroy();
        return;
      case 'latency':
        await new Promise((r) => setTimeout(r, 2000));
        break;
      default:
        break;
    }
    const headers = forwardable(req.headers);
    try {
      const up = await request(`${this.upstream}${req.url ?? '/'}`, {
        method: req.method as 'GET',
        headers,
        body: body.length > 0 ? body : undefined,
        dispatcher: this.#agent,
      });
      const text = await up.body.text();
      this.stats.forwarded++;
      if (fault === 'drop-after-apply') {
        req.socket.destroy();
        return;
      }
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(up.headers))
        if (typeof v === 'string' && !['transfer-encoding', 'connection', 'content-length'].includes(k))
          out[k] = v;
      res.writeHead(up.statusCode, out).end(text);
    } catch {
      req.socket.destroy();
    }
  }

  /** Keeps a request unanswered (forwarded first when held `after`), and says so. */
  async #hold(
    h: Pending & { after: boolean; reached: (r: { method: string; path: string }) => void },
    req: import('node:http').IncomingMessage,
    body: Buffer,
  ): Promise<void> {
    this.#held.add(req.socket);
    if (h.after) {
      try {
        const up = await request(`${this.upstream}${req.url ?? '/'}`, {
          method: req.method as 'GET',
          headers: forwardable(req.headers),
          body: body.length > 0 ? body : undefined,
          dispatcher: this.#agent,
        });
        await up.body.text();
        this.stats.forwarded++;
      } catch {
        // The server did not answer: the request is held all the same.
      }
    }
    h.reached({ method: req.method ?? 'GET', path: req.url ?? '/' });
  }

  /** A watch, streamed through: cut after 0.5–3 s, answered 410, or each chunk held back 1.5 s. */
  async #watch(
    req: import('node:http').IncomingMessage,
    res: import('node:http').ServerResponse,
    fault: Fault | undefined,
  ): Promise<void> {
    if (fault === 'watch-410') {
      res
        .writeHead(410, { 'content-type': 'application/json' })
        .end('{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Expired","code":410}');
      return;
    }
    try {
      const up = await request(`${this.upstream}${req.url ?? '/'}`, {
        method: 'GET',
        headers: forwardable(req.headers),
        dispatcher: this.#agent,
      });
      res.writeHead(up.statusCode, { 'content-type': 'application/json' });
      this.stats.forwarded++;
      if (fault === 'watch-cut') setTimeout(() => req.socket.destroy(), 500 + this.#random('watches') * 2500);
      res.on('close', () => up.body.destroy());
      for await (const chunk of up.body) {
        if (fault === 'watch-delay') await new Promise((r) => setTimeout(r, 1500));
        if (!res.writable) break;
        res.write(chunk);
      }
      res.end();
    } catch {
      req.socket.destroy();
    }
  }
}

function forwardable(h: import('node:http').IncomingHttpHeaders): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(h))
    if (typeof v === 'string' && k !== 'host' && k !== 'connection') headers[k] = v;
  return headers;
}
