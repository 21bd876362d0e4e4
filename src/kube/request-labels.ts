import { NetworkError } from '../net/http.ts';

/** One request to the API server as metrics count it: low-cardinality labels, no names or namespaces. */
export interface KubeRequest {
  /** get, list, watch, create, update, patch, delete — as the API server's own metrics name them. */
  verb: string;
  /** The resource (`secrets`, `leases`…). */
  resource: string;
  /** The HTTP status, or why there was none (`timeout`, `refused`, `proxy`…). */
  code: string;
  /** Seconds to the answer (a watch: until it ended). */
  seconds: number;
}

export type KubeRequestObserver = (r: KubeRequest) => void;

/**
 * The verb and resource of a request from its method and path: `/api/v1/namespaces/x/secrets/y` is a `get
 * secrets`, `/apis/coordination.k8s.io/v1/namespaces/x/leases` a `list leases` (or `create`), and so on.
 */
export function requestLabels(
  method: string,
  path: string,
  watch: boolean,
): { verb: string; resource: string } {
  const parts = path.split('?')[0]?.split('/').filter(Boolean) ?? [];
  const rest = parts[0] === 'api' ? parts.slice(2) : parts.slice(3);
  const [resource = '', name] =
    rest[0] === 'namespaces' && rest.length >= 3 ? [rest[2], rest[3]] : [rest[0], rest[1]];
  const verb =
    method === 'GET'
      ? watch
        ? 'watch'
        : name === undefined
          ? 'list'
          : 'get'
      : ({ POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' }[method] ?? method.toLowerCase());
  return { verb, resource };
}

/** The `code` label of a request that threw: a network failure's kind, else `error`. */
export const failureCode = (e: unknown): string => (e instanceof NetworkError ? e.kind : 'error');
