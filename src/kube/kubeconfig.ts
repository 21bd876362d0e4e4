import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { RotatorError } from '../errors.ts';
import type { ClusterAccess, Credentials } from './access.ts';
import { inCluster } from './in-cluster.ts';
import { parseProxyUrl } from '../net/proxy.ts';

export interface KubeConnectOptions {
  kubeconfig?: string | undefined;
  context?: string | undefined;
  requestTimeoutMs?: number | undefined;
}

interface RawCluster {
  server?: string;
  'certificate-authority'?: string;
  'certificate-authority-data'?: string;
  'insecure-skip-tls-verify'?: boolean;
  'tls-server-name'?: string;
  'proxy-url'?: string;
}
interface RawUser {
  'client-certificate'?: string;
  'client-certificate-data'?: string;
  'client-key'?: string;
  'client-key-data'?: string;
  token?: string;
  tokenFile?: string;
  username?: string;
  password?: string;
  exec?: {
    command?: string;
    args?: string[];
    env?: { name: string; value: string }[] | null;
    apiVersion?: string;
    provideClusterInfo?: boolean;
  };
  'auth-provider'?: { name?: string };
}
interface Merged {
  clusters: Map<string, { raw: RawCluster; dir: string }>;
  users: Map<string, { raw: RawUser; dir: string }>;
  contexts: Map<string, { cluster?: string; user?: string }>;
  current: string | undefined;
}

/** Reads kubeconfig files the way kubectl merges KUBECONFIG: the first file to define a name wins. */
function readFiles(files: readonly string[]): Merged {
  const m: Merged = { clusters: new Map(), users: new Map(), contexts: new Map(), current: undefined };
  for (const file of files) {
    if (!existsSync(file)) continue;
    let doc: Record<string, unknown>;
    try {
      doc = (parse(readFileSync(file, 'utf8')) ?? {}) as Record<string, unknown>;
    } catch (e) {
      throw new RotatorError(
        'KUBE_NO_CLUSTER',
        `${file}: not a valid kubeconfig (${(e as Error).message.split('\n')[0] ?? ''})`,
      );
    }
    const dir = dirname(resolve(file));
    const entries = <T>(key: string, field: string): [string, T][] =>
      ((doc[key] ?? []) as Record<string, unknown>[])
        .filter((e) => typeof e['name'] === 'string')
        .map((e) => [e['name'] as string, (e[field] ?? {}) as T]);
    for (const [n, raw] of entries<RawCluster>('clusters', 'cluster'))
      if (!m.clusters.has(n)) m.clusters.set(n, { raw, dir });
    for (const [n, raw] of entries<RawUser>('users', 'user'))
      if (!m.users.has(n)) m.users.set(n, { raw, dir });
    for (const [n, c] of entries<{ cluster?: string; user?: string }>('contexts', 'context'))
      if (!m.contexts.has(n)) m.contexts.set(n, c);

    if (
      m.current === undefined &&
      typeof doc['current-context'] === 'string' &&
      doc['current-context'] !== ''
    )
      m.current = doc['current-context'];
  }
  return m;
}

function fileOrData(
  path: string | undefined,
  data: string | undefined,
  dir: string,
  what: string,
): Buffer | undefined {
  if (data) return Buffer.from(data, 'base64');
  if (!path) return undefined;
  const p = isAbsolute(path) ? path : join(dir, path);
  try {
    return readFileSync(p);
  } catch {
    throw new RotatorError('KUBE_NO_CLUSTER', `the kubeconfig's ${what} file ${p} cannot be read`);
  }
}

function credentials(u: RawUser, dir: string, source: string): Credentials {
  if (u['auth-provider'])
    throw new RotatorError(
      'KUBE_NO_CLUSTER',
      `${source}: auth-provider "${u['auth-provider'].name ?? '?'}" is no longer supported by Kubernetes clients; use an exec credential plugin (kubelogin, gke-gcloud-auth-plugin, aws eks get-token)`,
    );
  if (u.exec) {
    if (!u.exec.command)
      throw new RotatorError('KUBE_NO_CLUSTER', `${source}: the user's exec plugin has no command`);
    return {
      kind: 'exec',
      exec: {
        command: u.exec.command,
        args: u.exec.args ?? [],
        env: u.exec.env ?? [],
        apiVersion: u.exec.apiVersion ?? 'client.authentication.k8s.io/v1',
        provideClusterInfo: u.exec.provideClusterInfo === true,
      },
    };
  }
  if (u.token) return { kind: 'token', token: u.token };
  if (u.tokenFile)
    return { kind: 'token-file', path: isAbsolute(u.tokenFile) ? u.tokenFile : join(dir, u.tokenFile) };
  if (u.username !== undefined && u.password !== undefined)
    return { kind: 'basic', username: u.username, password: u.password };
  return { kind: 'none' };
}

function fromFiles(files: readonly string[], source: string, context: string | undefined): ClusterAccess {
  const m = readFiles(files);
  const name = context ?? m.current;
  if (context !== undefined && !m.contexts.has(context))
    throw new RotatorError(
      'USAGE',
      `--context ${context}: no such context in ${source} (contexts: ${[...m.contexts.keys()].join(', ') || 'none'})`,
    );
  const ctx = name === undefined ? undefined : m.contexts.get(name);
  const cluster = ctx?.cluster === undefined ? undefined : m.clusters.get(ctx.cluster);
  if (!ctx || !cluster?.raw.server)
    throw new RotatorError(
      'KUBE_NO_CLUSTER',
      `${source}: the current context "${name ?? ''}" names no cluster with a server (set current-context, or pass --context)`,
    );
  const proxyUrl = cluster.raw['proxy-url'];
  if (proxyUrl !== undefined && parseProxyUrl(proxyUrl) === undefined)
    throw new RotatorError(
      'KUBE_NO_CLUSTER',
      `${source}: the cluster's proxy-url "${proxyUrl.replace(/\/\/[^@/]*@/, '//')}" is not an http:// or https:// proxy (socks5 is not supported)`,
    );
  const user = ctx.user === undefined ? undefined : m.users.get(ctx.user);
  const u = user?.raw ?? {};
  const udir = user?.dir ?? cluster.dir;
  return {
    source,
    server: cluster.raw.server.replace(/\/+$/, ''),
    ca: fileOrData(
      cluster.raw['certificate-authority'],
      cluster.raw['certificate-authority-data'],
      cluster.dir,
      'certificate-authority',
    ),
    cert: fileOrData(u['client-certificate'], u['client-certificate-data'], udir, 'client-certificate'),
    key: fileOrData(u['client-key'], u['client-key-data'], udir, 'client-key'),
    insecureSkipTlsVerify: cluster.raw['insecure-skip-tls-verify'] === true,
    tlsServerName: cluster.raw['tls-server-name'],
    proxyUrl,
    credentials: credentials(u, udir, source),
  };
}

/**
 * Finds cluster access the way kubectl does — --kubeconfig, then KUBECONFIG, then ~/.kube/config, then the
 * in-cluster ServiceAccount — and refuses to guess: no configuration is a clear error, never a silent
 * http://localhost:8080 (the fallback of the usual client libraries).
 */
export function loadClusterAccess(opts: KubeConnectOptions): ClusterAccess {
  if (opts.kubeconfig) {
    if (!existsSync(opts.kubeconfig))
      throw new RotatorError('KUBE_NO_CLUSTER', `--kubeconfig ${opts.kubeconfig}: no such file`);
    return fromFiles([opts.kubeconfig], opts.kubeconfig, opts.context);
  }
  const env = process.env['KUBECONFIG'];
  if (env) {
    const files = env.split(':').filter((f) => f !== '');
    if (!files.some((f) => existsSync(f)))
      throw new RotatorError(
        'KUBE_NO_CLUSTER',
        `KUBECONFIG names ${files.join(', ')}, but none of these files exists`,
      );
    return fromFiles(files, `KUBECONFIG (${files.join(':')})`, opts.context);
  }
  const home = join(homedir(), '.kube', 'config');
  if (existsSync(home)) return fromFiles([home], home, opts.context);
  const pod = inCluster();
  if (pod) return pod;
  throw new RotatorError(
    'KUBE_NO_CLUSTER',
    'no Kubernetes cluster configured: pass --kubeconfig, set KUBECONFIG, create ~/.kube/config, or run in a pod ' +
      '(client libraries would silently use http://localhost:8080; the rotator refuses to)',
  );
}
