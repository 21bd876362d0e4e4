/** What every `/api/v2.0` handler shares: the call, Harbor's access checks, paging, project lookup. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isAuthenticated, type Principal, type Project, type World } from './model.ts';
import { HarborError } from './wire.ts';

export const API = '/api/v2.0';

export interface Call {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** The path below /api/v2.0, without a trailing slash. */
  path: string;
  p: Principal;
}

/** Harbor's paging: page (default 1) and page_size (default 10, at most 100), X-Total-Count and Link. */
export function page<T>(c: Call, items: T[]): { items: T[]; headers: Record<string, string> } {
  const pageNo = Math.max(1, Number(c.url.searchParams.get('page') ?? '1') || 1);
  const size = Math.min(100, Math.max(1, Number(c.url.searchParams.get('page_size') ?? '10') || 10));
  const links: string[] = [];
  const link = (n: number, rel: string): void => {
    const u = new URL(c.url.toString());
    u.searchParams.set('page', String(n));
    u.searchParams.set('page_size', String(size));
    u.searchParams.sort(); // Go's url.Values.Encode sorts by key
    links.push(`<${u.pathname}?${decodeURIComponent(u.search.slice(1))}>; rel="${rel}"`);
  };
  if (pageNo > 1 && (pageNo - 1) * size < items.length) link(pageNo - 1, 'prev');
  if (size * pageNo < items.length) link(pageNo + 1, 'next');
  const headers: Record<string, string> = { 'x-total-count': String(items.length) };
  if (links.length) headers.link = links.join(' , ');
  return { items: items.slice((pageNo - 1) * size, pageNo * size), headers };
}

export function requireAuthenticated(p: Principal): void {
  if (!isAuthenticated(p)) throw new HarborError('UNAUTHORIZED', 'unauthorized');
}

/** RequireProjectAccess: a missing project counts as project 0, which only a sysadmin may touch. */
export function requireProjectAccess(
  w: World,
  p: Principal,
  project: Project | undefined,
  resource: string,
  action: string,
): void {
  if (w.canProject(p, project, resource, action)) return;
  if (!isAuthenticated(p)) throw new HarborError('UNAUTHORIZED', 'unauthorized');
  throw new HarborError('FORBIDDEN', 'forbidden');
}

/** A `{project_name_or_id}` path value: a number is an id unless X-Is-Resource-Name says it is a name. */
export function projectRef(c: Call, raw: string): string | number {
  const asName = c.req.headers['x-is-resource-name'] === 'true';
  return !asName && /^-?\d+$/.test(raw) ? Number(raw) : decodeURIComponent(raw);
}

export function getProject(w: World, ref: string | number): Project {
  if (typeof ref === 'string' && ref.includes(' '))
    throw new HarborError('BAD_REQUEST', `invalid parameter: invalid project name: '${ref}'`);
  const p = w.project(ref);
  if (!p) throw new HarborError('NOT_FOUND', `project ${ref} not found`);
  return p;
}
