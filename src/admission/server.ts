import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../base/logger.ts';
import type { KeyPair } from './x509.ts';

/** AdmissionReview bodies are small; anything larger is not one of ours to read. */
const MAX_BODY = 4 << 20;

/** What the handler answers for one AdmissionReview request (always allowed; a patch when there is one). */
export interface AdmissionAnswer {
  patch?: unknown[] | undefined;
  warnings?: string[] | undefined;
}

export type ReviewHandler = (review: unknown) => Promise<AdmissionAnswer>;

/**
 * The webhook's HTTPS endpoint: POST /mutate with an admission.k8s.io/v1 AdmissionReview, answered with
 * `allowed: true` whatever happens — a bad body, a handler error, a slow handler — so the rotator never
 * stands between a user and their pod. `/healthz` answers 200. The certificate can change while it runs
 * (`use`): connections already open keep theirs, new ones get the new one.
 */
export class WebhookServer {
  readonly #server: Server;
  readonly #log: Logger;

  constructor(pair: KeyPair, handler: ReviewHandler, log: Logger) {
    this.#log = log;
    this.#server = createServer(
      { key: pair.keyPem, cert: pair.certPem, minVersion: 'TLSv1.2' },
      (req, res) => void this.#handle(req, res, handler),
    );
    this.#server.keepAliveTimeout = 30_000;
    // A connection is closed after this many requests: the API server then opens a new one, which gets the
    // certificate served now — a renewed certificate is in use within seconds, not when a connection idles.
    this.#server.maxRequestsPerSocket = 100;
  }

  use(pair: KeyPair): void {
    this.#server.setSecureContext({ key: pair.keyPem, cert: pair.certPem, minVersion: 'TLSv1.2' });
  }

  listen(port: number, host?: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        const a = this.#server.address();
        resolve(typeof a === 'object' && a ? a.port : port);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeIdleConnections();
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse, handler: ReviewHandler): Promise<void> {
    if (req.method === 'GET' && req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (req.method !== 'POST' || req.url?.split('?')[0] !== '/mutate') {
      res.writeHead(404).end();
      return;
    }
    let uid = '';
    let apiVersion = 'admission.k8s.io/v1';
    let answer: AdmissionAnswer;
    try {
      const review = JSON.parse(await body(req)) as { apiVersion?: string; request?: { uid?: unknown } };
      uid = typeof review.request?.uid === 'string' ? review.request.uid : '';
      apiVersion = review.apiVersion ?? apiVersion;
      answer = await handler(review);
    } catch (e) {
      this.#log.warn({ err: (e as Error).message }, 'admission request not handled; allowed unchanged');
      answer = {};
    }
    const response: Record<string, unknown> = { uid, allowed: true };
    if (answer.patch && answer.patch.length > 0) {
      response['patchType'] = 'JSONPatch';
      response['patch'] = Buffer.from(JSON.stringify(answer.patch)).toString('base64');
    }
    if (answer.warnings?.length) response['warnings'] = answer.warnings;
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ apiVersion, kind: 'AdmissionReview', response }));
  }
}

function body(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('admission request body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
