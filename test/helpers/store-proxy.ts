/**
 * A plain-HTTP proxy in front of the stack's OpenBao (whose listener is TLS): it counts every request by
 * what it does (a read, a write, a listing of the KV engine's data or metadata) and, per request, lets a
 * test answer 503 instead, or drop it unanswered — a store outage at an exact moment of a run. The
 * rotator reaches it through a vault store whose `address` is the proxy's.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { env } from './stack.ts';

export interface StoreRequest {
  method: string;
  /** The API path after /v1/, without the query. */
  path: string;
  /** `list` for a LIST (GET ?list=true, or the LIST verb), else the HTTP method in lower case. */
  verb: string;
  body: string;
}

/** pass: forward it; fail: 503 as a sealed or overloaded OpenBao answers; drop: close the connection unanswered. */
export type Verdict = 'pass' | 'fail' | 'drop';

export class StoreProxy {
  /** Requests seen, by `<verb> <kind>` (kind: `data`, `metadata`, or the path's first segment). */
  readonly counts = new Map<string, number>();
  /** Decides each request; forwards everything unless a test says otherwise. */
  rule: (r: StoreRequest) => Verdict = () => 'pass';
  #server: Server | undefined;
  readonly #upstream = env('REGCRED_STACK_BAO_ADDR');

  async listen(): Promise<string> {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => void this.#handle(req, res, Buffer.concat(chunks)));
    });
    // Each rotator keeps its connections open; close() must not wait for them.
    this.#server.keepAliveTimeout = 1000;
    await new Promise<void>((r) => this.#server?.listen(0, '127.0.0.1', () => r()));
    return `http://127.0.0.1:${(this.#server.address() as { port: number }).port}`;
  }

  total(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }

  reset(): void {
    this.counts.clear();
  }

  async close(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise((r) => this.#server?.close(r));
  }

  async #handle(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://proxy.invalid');
    const path = url.pathname.replace(/^\/v1\//, '');
    const method = req.method ?? 'GET';
    const verb = method === 'LIST' || url.searchParams.get('list') === 'true' ? 'list' : method.toLowerCase();
    const parts = path.split('/');
    const kind = parts[1] === 'data' || parts[1] === 'metadata' ? parts[1] : (parts[0] ?? '');
    const key = `${verb} ${kind}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    const verdict = this.rule({ method, path, verb, body: body.toString() });
    if (verdict === 'drop') {
      req.socket.destroy();
      return;
    }
    if (verdict === 'fail') {
      res.writeHead(503, { 'content-type': 'application/json' }).end('{"errors":["store proxy: down"]}');
      return;
    }
    try {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers))
        if (typeof v === 'string' && !['host', 'connection', 'content-length'].includes(k)) headers[k] = v;
      const up = await fetch(`${this.#upstream}${req.url ?? '/'}`, {
        method,
        headers,
        body: body.length > 0 ? body : undefined,
      });
      const text = await up.text();
      res
        .writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? 'application/json' })
        .end(text);
    } catch {
      req.socket.destroy();
    }
  }
}
