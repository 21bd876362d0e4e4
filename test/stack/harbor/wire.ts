/** How Harbor answers on the wire: its error envelope, JSON with Go's key order, request bodies. */
import type { IncomingMessage, ServerResponse } from 'node:http';

export type ErrorCode =
  | 'BAD_REQUEST'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'PRECONDITION'
  | 'METHOD_NOT_ALLOWED'
  | 'UNPROCESSABLE_ENTITY'
  | 'DENIED'
  | 'UNKNOWN';

const STATUS: Record<ErrorCode, number> = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PRECONDITION: 412,
  METHOD_NOT_ALLOWED: 405,
  UNPROCESSABLE_ENTITY: 422,
  DENIED: 403,
  UNKNOWN: 500,
};

/** A Harbor API error: `lib/errors` with a code; the body is `{"errors":[{code,message}]}` plus a newline. */
export class HarborError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

export function sendError(res: ServerResponse, e: HarborError, headers: Record<string, string> = {}): void {
  const body = `${JSON.stringify({ errors: [{ code: e.code, message: e.message }] })}\n`;
  res.writeHead(STATUS[e.code], { ...headers, 'content-type': 'application/json; charset=utf-8' });
  res.end(body);
}

/** Go's encoding/json order for go-swagger models: keys sorted, `undefined` left out. */
export function sorted(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(o).sort()) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { ...headers, 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** A response without a body, as Go writes one: `Content-Length: 0`, never chunked. */
export function empty(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...headers, 'content-length': '0' }).end();
}

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** A required JSON body parameter, bound as go-swagger binds it: missing → 422, not JSON → 400. */
export async function jsonBody<T>(req: IncomingMessage, param: string): Promise<T> {
  const text = await readBody(req);
  if (text.trim() === '') throw new HarborError('UNPROCESSABLE_ENTITY', `${param} in body is required`);
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v))
      throw new HarborError(
        'BAD_REQUEST',
        `parsing ${param} body from "" failed, because json: cannot unmarshal`,
      );
    return v as T;
  } catch (e) {
    if (e instanceof HarborError) throw e;
    throw new HarborError('BAD_REQUEST', `parsing ${param} body from "" failed, because invalid character`);
  }
}

/** RFC 3339 with milliseconds, as strfmt.DateTime marshals. */
export const iso = (ms: number): string => new Date(ms).toISOString();

export function basicCredentials(req: IncomingMessage): { name: string; secret: string } | undefined {
  const h = req.headers.authorization;
  if (!h || !/^basic /i.test(h)) return undefined;
  const decoded = Buffer.from(h.slice(6).trim(), 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return undefined;
  return { name: decoded.slice(0, i), secret: decoded.slice(i + 1) };
}

export function bearerToken(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  return h && /^bearer /i.test(h) ? h.slice(7).trim() : undefined;
}

/** Go's url.QueryUnescape: `+` is a space, `%XX` decoded; undefined when malformed. */
export function queryUnescape(s: string): string | undefined {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}
