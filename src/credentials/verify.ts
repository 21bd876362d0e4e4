import { httpRequest, jsonBody, NetworkError, type ConnectionPool, type HttpResponse } from '../net/http.ts';
import type { RegistryCredential } from './dockerconfig.ts';
import { registryApiHost } from './registry-key.ts';
import { registerSecret } from '../base/sensitive.ts';

export type VerifyOutcome = 'accepted' | 'rejected' | 'unreachable' | 'not-a-registry' | 'no-auth-required';

export interface VerifyResult {
  registry: string;
  outcome: VerifyOutcome;
  flow: 'basic' | 'bearer' | 'none';
  /** One line for the operator; never contains a credential. */
  detail: string;
}

export interface VerifyOptions {
  /** Registries (host[:port]) reached over plain HTTP. */
  insecure: readonly string[];
  timeoutMs: number;
  pool?: ConnectionPool | undefined;
}

/** Parses `Bearer realm="...",service="...",scope="..."` (or `Basic realm=...`). */
export function parseChallenge(
  header: string | null,
): { scheme: string; params: Record<string, string> } | undefined {
  if (!header) return undefined;
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const p of (m[2] ?? '').matchAll(/(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
    params[(p[1] ?? '').toLowerCase()] = (p[2] ?? p[3] ?? '').replace(/\\(.)/g, '$1');
  }
  return { scheme: (m[1] ?? '').toLowerCase(), params };
}

const isRegistryAnswer = (res: HttpResponse): boolean =>
  res.headers.get('docker-distribution-api-version') !== null || res.headers.get('www-authenticate') !== null;

/** One login attempt: where, with what, and how results are shaped. */
interface Login {
  base: string;
  scheme: 'http' | 'https';
  basic: string;
  req: (url: string, headers?: Record<string, string>) => Promise<HttpResponse>;
  result: (outcome: VerifyOutcome, flow: VerifyResult['flow'], detail: string) => VerifyResult;
}

/**
 * Logs in to one registry with the credentials, the way `docker login` does: GET /v2/, follow the
 * WWW-Authenticate challenge (Basic, or a Bearer token request to the realm with the credentials), and
 * classify the answer. Nothing is retried: a flapping registry is exactly what we must not roll out on
 * (new pods need it to pull, even for images already on their node — see the README, "Kubernetes facts, observed").
 */
export async function verifyRegistry(cred: RegistryCredential, opts: VerifyOptions): Promise<VerifyResult> {
  const host = registryApiHost(cred.registry);
  const scheme = opts.insecure.includes(host) ? 'http' : 'https';
  const l: Login = {
    base: `${scheme}://${host}/v2/`,
    scheme,
    basic: `Basic ${Buffer.from(`${cred.username}:${cred.password.reveal()}`, 'utf8').toString('base64')}`,
    req: (url, headers = {}) => httpRequest(url, { headers, timeoutMs: opts.timeoutMs, pool: opts.pool }),
    result: (outcome, flow, detail) => ({ registry: cred.registry, outcome, flow, detail }),
  };
  try {
    const probe = await l.req(l.base);
    if (probe.status === 200) {
      return isRegistryAnswer(probe)
        ? l.result(
            'no-auth-required',
            'none',
            'the registry allows anonymous access; credentials not checked',
          )
        : l.result('not-a-registry', 'none', `${l.base} answered 200 without registry headers`);
    }
    if (probe.status !== 401)
      return l.result(
        'not-a-registry',
        'none',
        `${l.base} answered HTTP ${probe.status} (a registry answers 401 or 200)`,
      );
    const ch = parseChallenge(probe.headers.get('www-authenticate'));
    if (ch?.scheme === 'basic') return await basicLogin(l);
    if (ch?.scheme === 'bearer' && ch.params['realm']) return await bearerLogin(l, ch.params);
    return l.result(
      'not-a-registry',
      'none',
      `unsupported challenge "${probe.headers.get('www-authenticate') ?? '(none)'}"`,
    );
  } catch (e) {
    if (e instanceof NetworkError) return l.result('unreachable', 'none', e.message);
    throw e;
  }
}

async function basicLogin(l: Login): Promise<VerifyResult> {
  const res = await l.req(l.base, { authorization: l.basic });
  if (res.status === 200) return l.result('accepted', 'basic', 'logged in (Basic)');
  if (res.status === 401 || res.status === 403)
    return l.result('rejected', 'basic', `the registry refused the credentials (HTTP ${res.status})`);
  return l.result('not-a-registry', 'basic', `unexpected HTTP ${res.status} after Basic login`);
}

/** The token flow: credentials to the realm (HTTPS only when the registry is), then /v2/ with the token. */
async function bearerLogin(l: Login, params: Record<string, string>): Promise<VerifyResult> {
  const realm = new URL(params['realm'] ?? '');
  if (realm.protocol !== 'https:' && l.scheme === 'https')
    return l.result(
      'not-a-registry',
      'bearer',
      `token realm ${realm.origin} is not HTTPS; refusing to send credentials there`,
    );
  if (params['service']) realm.searchParams.set('service', params['service']);
  if (params['scope']) realm.searchParams.set('scope', params['scope']);
  const tok = await l.req(realm.toString(), { authorization: l.basic });
  if (tok.status === 401 || tok.status === 403)
    return l.result(
      'rejected',
      'bearer',
      `the token server ${realm.host} refused the credentials (HTTP ${tok.status})`,
    );
  if (tok.status !== 200)
    return l.result('not-a-registry', 'bearer', `the token server ${realm.host} answered HTTP ${tok.status}`);
  const body = jsonBody(tok) as { token?: unknown; access_token?: unknown } | undefined;
  const token =
    typeof body?.token === 'string'
      ? body.token
      : typeof body?.access_token === 'string'
        ? body.access_token
        : undefined;
  if (!token) return l.result('not-a-registry', 'bearer', `the token server ${realm.host} returned no token`);
  registerSecret(token);
  const res = await l.req(l.base, { authorization: `Bearer ${token}` });
  if (res.status === 200) return l.result('accepted', 'bearer', `logged in (Bearer via ${realm.host})`);
  if (res.status === 401 || res.status === 403)
    return l.result('rejected', 'bearer', `the registry refused the issued token (HTTP ${res.status})`);
  return l.result('not-a-registry', 'bearer', `unexpected HTTP ${res.status} with the issued token`);
}
