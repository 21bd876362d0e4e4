import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { RotatorError } from '../errors.ts';
import type { ClusterAccess, ExecConfig } from './access.ts';

const run = promisify(execFile);

/** What a request carries: an Authorization header, and TLS client material when the credential has some. */
export interface ResolvedAuth {
  authorization?: string | undefined;
  cert?: Buffer | undefined;
  key?: Buffer | undefined;
  /** Re-resolve after this time (ms since epoch). */
  until: number;
}

/** Token files are re-read this often: the kubelet rotates projected ServiceAccount tokens. */
const TOKEN_FILE_REFRESH_MS = 10_000;

async function execCredential(e: ExecConfig, access: ClusterAccess): Promise<ResolvedAuth> {
  const info = {
    apiVersion: e.apiVersion,
    kind: 'ExecCredential',
    spec: {
      interactive: false,
      ...(e.provideClusterInfo
        ? { cluster: { server: access.server, 'certificate-authority-data': access.ca?.toString('base64') } }
        : {}),
    },
  };
  let stdout: string;
  try {
    ({ stdout } = await run(e.command, e.args, {
      env: {
        ...process.env,
        ...Object.fromEntries(e.env.map((x) => [x.name, x.value])),
        KUBERNETES_EXEC_INFO: JSON.stringify(info),
      },
      timeout: 60_000,
      maxBuffer: 4 << 20,
    }));
  } catch (err) {
    const { code, stderr } = err as { code?: unknown; stderr?: unknown };
    throw new RotatorError(
      'KUBE_UNAUTHORIZED',
      `the kubeconfig's credential plugin "${e.command}" ${code === 'ENOENT' ? 'is not installed (not on PATH): install it, or use a kubeconfig without it' : `failed (exit ${typeof code === 'number' || typeof code === 'string' ? code : '?'})${pluginSays(stderr)}`}`,
    );
  }
  let status: {
    token?: string;
    clientCertificateData?: string;
    clientKeyData?: string;
    expirationTimestamp?: string;
  };
  try {
    status = (JSON.parse(stdout) as { status?: typeof status }).status ?? {};
  } catch {
    throw new RotatorError(
      'KUBE_UNAUTHORIZED',
      `the kubeconfig's credential plugin "${e.command}" printed no ExecCredential`,
    );
  }
  const expires = status.expirationTimestamp ? Date.parse(status.expirationTimestamp) : Number.NaN;
  return {
    authorization: status.token ? `Bearer ${status.token}` : undefined,
    cert: status.clientCertificateData ? Buffer.from(status.clientCertificateData) : undefined,
    key: status.clientKeyData ? Buffer.from(status.clientKeyData) : undefined,
    until: Number.isNaN(expires) ? Number.POSITIVE_INFINITY : expires - 30_000,
  };
}

/** The end of what a failed plugin printed (its own reason, as kubectl shows it), on one line. */
function pluginSays(stderr: unknown): string {
  const text = typeof stderr === 'string' ? stderr.trim() : '';
  if (text === '') return '';
  const tail = text.split('\n').slice(-3).join(' ').replace(/\s+/g, ' ');
  return `: ${tail.length > 300 ? `…${tail.slice(-300)}` : tail}`;
}

/** Resolves and caches the credentials of a ClusterAccess; `invalidate()` after a 401 forces a refresh. */
export class Authenticator {
  readonly #access: ClusterAccess;
  #cached: ResolvedAuth | undefined;
  #pending: Promise<ResolvedAuth> | undefined;

  constructor(access: ClusterAccess) {
    this.#access = access;
  }

  /** Whether a 401 may be cured by resolving again (rotating tokens, plugins). */
  get refreshable(): boolean {
    return this.#access.credentials.kind === 'token-file' || this.#access.credentials.kind === 'exec';
  }

  invalidate(): void {
    this.#cached = undefined;
  }

  async resolve(): Promise<ResolvedAuth> {
    const c = this.#cached;
    if (c && Date.now() < c.until) return c;
    this.#pending ??= this.#resolve().finally(() => (this.#pending = undefined));
    this.#cached = await this.#pending;
    return this.#cached;
  }

  async #resolve(): Promise<ResolvedAuth> {
    const cr = this.#access.credentials;
    switch (cr.kind) {
      case 'none':
        return { until: Number.POSITIVE_INFINITY };
      case 'token':
        return { authorization: `Bearer ${cr.token}`, until: Number.POSITIVE_INFINITY };
      case 'basic':
        return {
          authorization: `Basic ${Buffer.from(`${cr.username}:${cr.password}`).toString('base64')}`,
          until: Number.POSITIVE_INFINITY,
        };
      case 'token-file': {
        let token: string;
        try {
          token = readFileSync(cr.path, 'utf8').trim();
        } catch {
          throw new RotatorError('KUBE_UNAUTHORIZED', `the token file ${cr.path} cannot be read`);
        }
        return { authorization: `Bearer ${token}`, until: Date.now() + TOKEN_FILE_REFRESH_MS };
      }
      case 'exec':
        return execCredential(cr.exec, this.#access);
    }
  }
}
