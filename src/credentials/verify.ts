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

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** One item of a WWW-Authenticate list: an auth scheme, or a `key=value` / `key="quoted"` parameter. */
const CHALLENGE_ITEM = /[\s,]*([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?:\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*)))?/y;

/**
 * Parses a WWW-Authenticate value into its challenges, in order. A registry may offer several, and Node
 * joins repeated headers with ", ": Gitea answers `Bearer realm="…",service="…",scope="*", Basic realm="…"`.
 */
export function parseChallenges(header: string | null): Challenge[] {
  const out: Challenge[] = [];
  if (!header) return out;
  const item = new RegExp(CHALLENGE_ITEM.source, 'y');
  for (let m = item.exec(header); m; m = item.exec(header)) {
    const [, token = '', quoted, bare] = m;
    if (quoted === undefined && bare === undefined) out.push({ scheme: token.toLowerCase(), params: {} });
    else {
      const last = out.at(-1);
      if (last) last.params[token.toLowerCase()] = quoted?.replace(/\\(.)/g, '$1') ?? bare ?? '';
    }
    if (item.lastIndex >= header.length) break;
  }
  return out;
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
    // The token flow first when a registry offers both, as container runtimes do.
    const offered = parseChallenges(probe.headers.get('www-authenticate'));
    const bearer = offered.find((c) => c.scheme === 'bearer' && c.params['realm']);
    if (bearer) return await bearerLogin(l, bearer.params);
    if (offered.some((c) => c.scheme === 'basic')) return await basicLogin(l);
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
  const realm = URL.parse(params['realm'] ?? '');
  if (realm === null)
    return l.result('not-a-registry', 'bearer', `the token realm "${params['realm'] ?? ''}" is not a URL`);
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
