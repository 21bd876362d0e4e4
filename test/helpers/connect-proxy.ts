/**
 * A forward proxy as corporate networks run them: CONNECT tunnels for HTTPS (TLS stays end to end, the proxy
 * sees only host:port) and absolute-form requests for plain HTTP, an ACL that answers 403 to some targets,
 * and a log of every target it was asked for. Names of the Azure doubles resolve to 127.0.0.1, as in
 * test/stack/azure/resolve.ts.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';

const AZURE = /^(login\.microsoftonline\.com|[a-z0-9-]+\.vault\.azure\.net)$/i;

export class ConnectProxy {
  /** Every target asked for, in order: `CONNECT host:port` or `GET http://host:port/path`. */
  readonly log: string[] = [];
  /** Targets (host:port) it refuses with 403, or every target. */
  refuse: Set<string> | 'all' = new Set();
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  constructor() {
    this.#server = createServer((req, res) => this.#forward(req, res));
    this.#server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) =>
      this.#tunnel(req, client, head),
    );
    this.#server.on('connection', (s: Socket) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
  }

  /** Listens on 127.0.0.1; resolves with the proxy's URL. */
  async listen(): Promise<string> {
    await new Promise<void>((r) => this.#server.listen(0, '127.0.0.1', () => r()));
    return `http://127.0.0.1:${(this.#server.address() as { port: number }).port}`;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise((r) => this.#server.close(r));
  }

  /** The distinct targets of CONNECT requests. */
  tunnels(): string[] {
    return [...new Set(this.log.filter((l) => l.startsWith('CONNECT ')).map((l) => l.slice(8)))];
  }

  #refused(target: string): boolean {
    return this.refuse === 'all' || this.refuse.has(target);
  }

  #tunnel(req: IncomingMessage, client: Socket, head: Buffer): void {
    const target = req.url ?? '';
    this.log.push(`CONNECT ${target}`);
    client.on('error', () => client.destroy());
    if (this.#refused(target)) {
      client.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    const i = target.lastIndexOf(':');
    const host = target.slice(0, i).replace(/^\[(.*)\]$/, '$1');
    const up = connect(Number(target.slice(i + 1)), AZURE.test(host) ? '127.0.0.1' : host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) up.write(head);
      up.pipe(client);
      client.pipe(up);
    });
    this.#sockets.add(up);
    up.on('close', () => this.#sockets.delete(up));
    up.on('error', () => client.end('HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n'));
    client.on('close', () => up.destroy());
  }

  #forward(req: IncomingMessage, res: ServerResponse): void {
    const url = URL.parse(req.url ?? '');
    this.log.push(`${req.method ?? 'GET'} ${req.url ?? ''}`);
    if (!url || url.protocol !== 'http:') {
      res.writeHead(400).end('absolute-form http:// URL expected');
      return;
    }
    if (this.#refused(url.host)) {
      res.writeHead(403).end();
      return;
    }
    const up = request(url, { method: req.method, headers: { ...req.headers, host: url.host } }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    up.on('error', () => res.writeHead(502).end());
    req.pipe(up);
  }
}
