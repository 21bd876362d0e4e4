/**
 * The stack's Gitea (test/stack/gitea/up.sh) as tests reach it: its users, raw API calls with Basic auth,
 * and the container registry's challenge → token → manifest flow, independent of the rotator's own client.
 */
import { env } from './stack.ts';

export const gitea = {
  get url() {
    return env('REGCRED_STACK_GITEA_URL');
  },
  get registry() {
    return env('REGCRED_STACK_GITEA_REGISTRY');
  },
  get admin() {
    return env('REGCRED_STACK_GITEA_ADMIN_USER');
  },
  get adminPassword() {
    return env('REGCRED_STACK_GITEA_ADMIN_PASSWORD');
  },
  get puller() {
    return env('REGCRED_STACK_GITEA_PULL_USER');
  },
  get pullerPassword() {
    return env('REGCRED_STACK_GITEA_PULL_PASSWORD');
  },
  /** host:port/regcred/busybox:1, in the private organisation. */
  get image() {
    return env('REGCRED_STACK_GITEA_IMAGE');
  },
};

export const basic = (user: string, password: string): string =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

export interface Answer {
  status: number;
  body: unknown;
  headers: Headers;
}

/** One API call (`/api/v1` + path); `auth` is a whole Authorization header. */
export async function api(
  method: string,
  path: string,
  auth: string | undefined,
  body?: unknown,
): Promise<Answer> {
  const res = await fetch(`${gitea.url}/api/v1${path}`, {
    method,
    headers: {
      accept: 'application/json',
      ...(auth === undefined ? {} : { authorization: auth }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

export const adminAuth = (): string => basic(gitea.admin, gitea.adminPassword);

export interface ApiToken {
  id: number;
  name: string;
  sha1?: string;
  token_last_eight?: string;
  scopes?: string[];
  created_at?: string;
  last_used_at?: string;
}

/** A token of `user` created with the user's own Basic login (or `auth`); fails the test unless 201. */
export async function createToken(
  user: string,
  password: string,
  name: string,
  scopes = ['read:package'],
): Promise<ApiToken & { sha1: string }> {
  const r = await api('POST', `/users/${user}/tokens`, basic(user, password), { name, scopes });
  if (r.status !== 201)
    throw new Error(`creating token ${name} of ${user}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as ApiToken & { sha1: string };
}

/** Deletes by id (admin login); 204 or 404 both leave it gone. */
export async function deleteToken(user: string, id: number | string): Promise<number> {
  return (await api('DELETE', `/users/${user}/tokens/${id}`, adminAuth())).status;
}

export async function listTokens(user: string): Promise<ApiToken[]> {
  const r = await api('GET', `/users/${user}/tokens?limit=50`, adminAuth());
  if (r.status !== 200) throw new Error(`listing tokens of ${user}: HTTP ${r.status}`);
  return r.body as ApiToken[];
}

/** The registry's challenge on `/v2/`. */
export async function challenge(): Promise<{ realm: string; service: string; raw: string }> {
  const res = await fetch(`https://${gitea.registry}/v2/`);
  const raw = res.headers.get('www-authenticate') ?? '';
  const param = (k: string) => new RegExp(`${k}="([^"]*)"`).exec(raw)?.[1] ?? '';
  return { realm: param('realm'), service: param('service'), raw };
}

/** Asks the realm for a bearer token with Basic credentials: the HTTP status, and the token on 200. */
export async function realmToken(
  user: string,
  password: string,
  scope = 'repository:regcred/busybox:pull',
): Promise<{ status: number; token?: string }> {
  const c = await challenge();
  const url = `${c.realm}?service=${encodeURIComponent(c.service)}&scope=${encodeURIComponent(scope)}`;
  const res = await fetch(url, { headers: { authorization: basic(user, password) } });
  if (res.status !== 200) return { status: res.status };
  return { status: 200, token: ((await res.json()) as { token: string }).token };
}

/** GET /v2/ with a whole Authorization header. */
export async function v2(auth: string): Promise<number> {
  return (await fetch(`https://${gitea.registry}/v2/`, { headers: { authorization: auth } })).status;
}

const MANIFEST_TYPES = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

/** GET the test image's manifest with a whole Authorization header. */
export async function manifest(auth: string, repo = 'regcred/busybox', tag = '1'): Promise<Response> {
  return fetch(`https://${gitea.registry}/v2/${repo}/manifests/${tag}`, {
    headers: { authorization: auth, accept: MANIFEST_TYPES },
  });
}

/** The pull a container runtime does: challenge → realm with Basic → manifest with the bearer token. */
export async function pullManifest(user: string, password: string): Promise<number> {
  const t = await realmToken(user, password);
  if (t.token === undefined) return t.status;
  return (await manifest(`Bearer ${t.token}`)).status;
}
