import { createServer, type Server } from 'node:http';
import type { Logger } from '../base/logger.ts';
import type { Metrics } from './metrics.ts';

/**
 * /metrics (Prometheus text) and /healthz (JSON) for scheduler mode. /healthz answers 503 when `health`
 * says a status other than `ok` (a probe restarts the pod).
 */
export async function startHttpServer(
  port: number,
  metrics: Metrics,
  health: () => Record<string, unknown> & { status?: string },
  logger: Logger,
): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    if (path === '/metrics') {
      metrics.registry
        .metrics()
        .then((text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text))
        .catch(() => res.writeHead(500).end());
      return;
    }
    if (path === '/healthz') {
      const h = { status: 'ok', ...health() };
      res
        .writeHead(h.status === 'ok' ? 200 : 503, { 'content-type': 'application/json' })
        .end(`${JSON.stringify(h)}\n`);
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        new Error(
          e.code === 'EADDRINUSE'
            ? `metrics port ${port} is already in use (set metrics.port)`
            : `cannot listen on metrics port ${port}: ${e.message}`,
        ),
      ),
    );
    server.listen(port, () => resolve());
  });
  logger.info({ port: (server.address() as { port: number }).port }, 'serving /metrics and /healthz');
  return server;
}
