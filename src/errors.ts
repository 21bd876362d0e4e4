/**
 * Every error the rotator raises on purpose. A stable `code` says what went wrong, `retryable` says whether
 * trying again later can help, and the message says what the operator can do. Only the CLI maps these to
 * exit codes (see cli/exit-codes.ts).
 */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'USAGE'
  | 'STORE_NOT_FOUND'
  | 'STORE_AUTH'
  | 'STORE_PERMISSION'
  | 'STORE_UNREACHABLE'
  | 'STORE_UNAVAILABLE'
  | 'STORE_VALUE_MALFORMED'
  | 'STORE_SECRET_EXPIRED'
  | 'STORE_SECRET_DISABLED'
  | 'STORE_CONFLICT'
  | 'STORE_READ_ONLY'
  | 'CREDENTIALS_INVALID'
  | 'REGISTRY_REJECTED'
  | 'REGISTRY_UNREACHABLE'
  | 'REGISTRY_NOT_A_REGISTRY'
  /** Issuers (the registry side that mints credentials): the managing identity was refused. */
  | 'ISSUER_AUTH'
  /** Authenticated, but lacking the right to act on the registry object (the message names it). */
  | 'ISSUER_PERMISSION'
  /** The registry object (project, robot, token) does not exist. */
  | 'ISSUER_NOT_FOUND'
  /** The registry refused the request as invalid (a name taken, a scope unknown). */
  | 'ISSUER_REJECTED'
  | 'ISSUER_UNREACHABLE'
  | 'ISSUER_UNAVAILABLE'
  | 'KUBE_NO_CLUSTER'
  | 'KUBE_UNAUTHORIZED'
  | 'KUBE_FORBIDDEN'
  | 'KUBE_NOT_FOUND'
  | 'KUBE_CONFLICT'
  | 'KUBE_ALREADY_EXISTS'
  | 'KUBE_INVALID'
  | 'KUBE_UNAVAILABLE'
  | 'KUBE_TIMEOUT'
  | 'OWNERSHIP'
  | 'NOT_CONVERGED'
  | 'LOCK_HELD'
  | 'LOCK_FAILED'
  | 'INTERRUPTED'
  | 'INTERNAL';

export interface RotatorErrorOptions {
  retryable?: boolean;
  cause?: unknown;
  /** Non-secret facts for logs (store, key, namespace, status…). Never a credential. */
  details?: Record<string, string | number | boolean | undefined>;
}

export class RotatorError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: Record<string, string | number | boolean | undefined>;

  constructor(code: ErrorCode, message: string, options: RotatorErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RotatorError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details ?? {};
  }
}

export function isRotatorError(e: unknown, code?: ErrorCode): e is RotatorError {
  return e instanceof RotatorError && (code === undefined || e.code === code);
}

/** A short, safe description of any thrown value: the message of our errors, the class of others. */
export function describeError(e: unknown): string {
  if (e instanceof RotatorError) return e.message;
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return 'unknown error';
}

/** The object a failed request was about (a Kubernetes error's details): where its Event goes. */
export interface FailedObject {
  resource: string;
  namespace: string | undefined;
  name: string;
}

/** What a result records of an error: its stable code, message and the object it was about (INTERNAL for anything not ours). */
export interface ErrorInfo {
  code: ErrorCode;
  message: string;
  object?: FailedObject | undefined;
}

export function errorInfo(e: unknown): ErrorInfo {
  if (!(e instanceof RotatorError)) return { code: 'INTERNAL', message: describeError(e) };
  const { resource, namespace, name } = e.details;
  const object =
    typeof resource === 'string' && typeof name === 'string'
      ? { resource, name, namespace: typeof namespace === 'string' ? namespace : undefined }
      : undefined;
  return { code: e.code, message: e.message, ...(object ? { object } : {}) };
}

/** The object an error recorded by errorInfo names, if any (results keep it beside code and message). */
export function failedObject(
  info: { code: ErrorCode; message: string } | undefined,
): FailedObject | undefined {
  return info && 'object' in info ? (info as ErrorInfo).object : undefined;
}

/** A config problem with its dotted path, e.g. `targets[1].store: no store named "x"`. */
export interface ConfigProblem {
  path: string;
  message: string;
}

/** Where a run's metrics go, when the config says so even though it is invalid elsewhere. */
export interface ReportTo {
  pushgateway: string;
  job: string;
}

export class ConfigError extends RotatorError {
  readonly problems: readonly ConfigProblem[];
  readonly reportTo: ReportTo | undefined;
  constructor(problems: readonly ConfigProblem[], file: string, reportTo?: ReportTo) {
    const lines = problems.map((p) => (p.path ? `  ${p.path}: ${p.message}` : `  ${p.message}`));
    super(
      'CONFIG_INVALID',
      `${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n${lines.join('\n')}`,
    );
    this.problems = problems;
    this.reportTo = reportTo;
  }
}
