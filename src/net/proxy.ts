import { isIP } from 'node:net';

type Env = Record<string, string | undefined>;

const first = (env: Env, ...names: string[]): string | undefined => {
  for (const n of names) {
    const v = env[n]?.trim();
    if (v) return v;
  }
  return undefined;
};

/** `10.0.0.0/8` or `fd00::/8` as a matcher of literal addresses of the same family. */
function cidrMatcher(entry: string): ((ip: string) => boolean) | undefined {
  const [base = '', bits = ''] = entry.split('/');
  const family = isIP(base);
  const n = Number(bits);
  if (family === 0 || !/^\d+$/.test(bits) || n > (family === 4 ? 32 : 128)) return undefined;
  const want = addressBits(base);
  return (ip) => isIP(ip) === family && addressBits(ip).slice(0, n) === want.slice(0, n);
}

/** An IP literal as a string of bits (IPv6 `::` expanded). */
function addressBits(ip: string): string {
  if (isIP(ip) === 4)
    return ip
      .split('.')
      .map((o) => Number(o).toString(2).padStart(8, '0'))
      .join('');
  const [head = '', tail = ''] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = ip.includes('::') ? (tail ? tail.split(':') : []) : [];
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups
    .map((g) =>
      parseInt(g || '0', 16)
        .toString(2)
        .padStart(16, '0'),
    )
    .join('');
}

/** Whether one NO_PROXY entry covers this host and port (the rules of Go's net/http, as kubectl applies them). */
function bypasses(entry: string, host: string, port: string): boolean {
  if (entry === '*') return true;
  const cidr = entry.includes('/') ? cidrMatcher(entry) : undefined;
  if (cidr) return cidr(host);
  let name = entry.toLowerCase();
  const m = /^(.*):(\d+)$/.exec(name);
  if (m && isIP(name) !== 6) {
    if (m[2] !== port) return false;
    name = m[1] ?? '';
  }
  name = name.replace(/^\[(.*)\]$/, '$1');
  if (isIP(name) !== 0) return name === host;
  // `example.com` covers example.com and its subdomains; `.example.com` only the subdomains.
  if (name.startsWith('.')) return host.endsWith(name);
  if (name.startsWith('*.')) return host.endsWith(name.slice(1));
  return host === name || host.endsWith(`.${name}`);
}

const isLoopback = (host: string): boolean =>
  host === 'localhost' || host.endsWith('.localhost') || /^127\./.test(host) || host === '::1';

/**
 * The proxy a request to `url` goes through, from HTTPS_PROXY / HTTP_PROXY (or their lower-case forms) and
 * NO_PROXY, by the rules kubectl uses (Go's net/http): https URLs take HTTPS_PROXY, http URLs HTTP_PROXY;
 * NO_PROXY lists hosts, domains (`example.com` and its subdomains, `.example.com` subdomains only), IPs,
 * CIDR ranges, `host:port`, or `*`; loopback addresses and `localhost` are never proxied. A proxy given
 * without a scheme is `http://`.
 */
export function proxyFor(url: URL, env: Env = process.env): URL | undefined {
  const raw =
    url.protocol === 'https:'
      ? first(env, 'HTTPS_PROXY', 'https_proxy')
      : url.protocol === 'http:'
        ? first(env, 'HTTP_PROXY', 'http_proxy')
        : undefined;
  if (raw === undefined) return undefined;
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (isLoopback(host)) return undefined;
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  const noProxy = (first(env, 'NO_PROXY', 'no_proxy') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (noProxy.some((e) => bypasses(e, host, port))) return undefined;
  const proxy = parseProxyUrl(raw);
  if (!proxy)
    throw new UnsupportedProxy(
      `the proxy for ${url.protocol.slice(0, -1)} URLs is "${raw.replace(/\/\/[^@/]*@/, '//')}": only http:// and https:// proxies are supported`,
    );
  return proxy;
}

/** A proxy setting this process cannot use (a socks5:// proxy, a malformed URL). */
export class UnsupportedProxy extends Error {
  override readonly name = 'UnsupportedProxy';
}

/** A proxy setting as a URL (`host:port` means `http://host:port`); undefined when it is not one. */
export function parseProxyUrl(raw: string): URL | undefined {
  const u = URL.parse(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`);
  return u && (u.protocol === 'http:' || u.protocol === 'https:') ? u : undefined;
}

/** A proxy URL as messages show it: without any user:password it may carry. */
export const showProxy = (p: URL): string => `${p.protocol}//${p.host}`;
