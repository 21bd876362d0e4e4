/**
 * A small HTTPS proxy between the rotator and the API server that injects faults: 429 with Retry-After,
 * 500/503, connection resets, 2 s latency, a dropped response after the server applied a write, and a
 * server that stops answering altogether (stall).
 * It forwards the bearer token unchanged (the rotator uses a token kubeconfig pointed at the proxy).
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
  /** A fault the next request it applies to gets, whatever the rate (see failNext). */
  #next: Fault | undefined;

  /** While set, nothing is answered: see stall. */
  #held: Promise<void> | undefined;
  #release: (() => void) | undefined;

  /**
   * The API server stops answering without closing anything (a hung server, a partition): new requests are
   * held, and open watches pass nothing more, not even their end, until `answer()`.
   */
  stall(): void {
    this.#held ??= new Promise((r) => (this.#release = r));
  }

  /** Answers again: held requests go on to the API server, held watch data flows. */
  answer(): void {
    this.#release?.();
    this.#held = undefined;
  }

  /** The next request `fault` applies to gets it (a write, for 'drop-after-apply'); then the rate rules again. */
  failNext(fault: Fault): void {
    this.#next = fault;
  }

  readonly upstream: string;

  constructor(upstream: string, pki: string, opts: { rate: number; faults: Fault[]; seed?: number }) {
    this.upstream = upstream;
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
    this.answer();
    this.#server?.closeAllConnections();
    await new Promise((r) => this.#server?.close(r));
    await this.#agent.close();
  }

  async #handle(
    req: import('node:http').IncomingMessage,
    res: import('node:http').ServerResponse,
    body: Buffer,
  ): Promise<void> {
    if (this.#held) await this.#held;
    if (req.socket.destroyed) return;
    const write = req.method !== 'GET';
    const watch = /[?&]watch=(1|true)/.test(req.url ?? '');
    const stream = watch ? 'watches' : 'requests';
    let fault: Fault | undefined;
    if (this.#next && !watch && (this.#next !== 'drop-after-apply' || write)) {
      fault = this.#next;
      this.#next = undefined;
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
    switch (fault) {
      case '429':
        res
          .writeHead(429, { 'retry-after': '1', 'content-type': 'application/json' })
          .end('{"kind":"Status","status":"Failure","reason":"TooManyRequests","code":429}');
        return;
      case '500':
      case '503':
        res
          .writeHead(Number(fault), { 'content-type': 'application/json' })
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
        if (this.#held) await this.#held;
        if (!res.writable) break;
        res.write(chunk);
      }
      if (this.#held) await this.#held;
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
