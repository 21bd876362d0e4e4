/** REST paths of the objects the rotator reads and writes. */
export const core = (resource: string) => (ns: string | undefined) =>
  ns === undefined ? `/api/v1/${resource}` : `/api/v1/namespaces/${encodeURIComponent(ns)}/${resource}`;

export const one = (resource: string, ns: string, name: string) =>
  `${core(resource)(ns)}/${encodeURIComponent(name)}`;

export const lease = (ns: string, name?: string) =>
  `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(ns)}/leases${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;
