/**
 * Registry keys as they appear under `auths` in a .dockerconfigjson, and how the kubelet matches them.
 * Docker Hub's key is `https://index.docker.io/v1/` (what `kubectl create secret docker-registry` writes
 * by default); every other key is kept as host[:port][/path], scheme dropped, lower-cased host.
 */
export const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';
const DOCKER_HUB_ALIASES = new Set([
  'docker.io',
  'index.docker.io',
  'registry-1.docker.io',
  'registry.hub.docker.com',
]);

const HOST_RE =
  /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*(:[0-9]{1,5})?$|^\[[0-9a-f:]+\](:[0-9]{1,5})?$/;

/** Returns the normalised key, or an error message saying what is wrong with `raw`. */
export function normaliseRegistryKey(raw: string): { key: string } | { error: string } {
  const trimmed = raw.trim();
  if (trimmed === '') return { error: 'registry is empty' };
  if (/\s/.test(trimmed)) return { error: `registry "${trimmed}" contains whitespace` };
  let rest = trimmed.replace(/^https?:\/\//i, '');
  rest = rest.replace(/\/+$/, '');
  const slash = rest.indexOf('/');
  const host = (slash < 0 ? rest : rest.slice(0, slash)).toLowerCase();
  const path = slash < 0 ? '' : rest.slice(slash);
  if (DOCKER_HUB_ALIASES.has(host) && (path === '' || path === '/v1' || path === '/v2'))
    return { key: DOCKER_HUB_KEY };
  if (!HOST_RE.test(host)) return { error: `registry "${trimmed}" is not a host[:port][/path]` };
  return { key: host + path };
}

/** The host[:port] to send `/v2/` requests to for a key (Docker Hub's API lives on registry-1). */
export function registryApiHost(key: string): string {
  if (key === DOCKER_HUB_KEY) return 'registry-1.docker.io';
  const slash = key.indexOf('/');
  return slash < 0 ? key : key.slice(0, slash);
}
