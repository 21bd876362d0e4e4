import { Observable, ResponseContext, type HttpLibrary, type RequestContext } from '@kubernetes/client-node';
import { request } from 'undici';

/**
 * client-node's HTTP layer on undici's `request` instead of `fetch`: the same wire behaviour without the
 * web-streams machinery, which at thousands of requests per run was a large share of our CPU — CPU the
 * API server on the same nodes could use.
 */
export class UndiciHttpLibrary implements HttpLibrary {
  send(ctx: RequestContext): Observable<ResponseContext> {
    return new Observable(
      (async () => {
        const body = ctx.getBody();
        const res = await request(ctx.getUrl(), {
          method: ctx.getHttpMethod() as 'GET',
          headers: ctx.getHeaders(),
          body:
            typeof body === 'string' || body === undefined
              ? body
              : body instanceof URLSearchParams
                ? body.toString()
                : undefined,
          dispatcher: ctx.getDispatcher(),
          signal: ctx.getSignal(),
        });
        const text = await res.body.text();
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers))
          if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
        return new ResponseContext(res.statusCode, headers, {
          text: () => Promise.resolve(text),
          binary: () => Promise.resolve(Buffer.from(text)),
          stream: () => null,
        });
      })(),
    );
  }
}
