import { RotatorError, type ErrorCode } from '../errors.ts';
import { NetworkError } from '../net/http.ts';
import { retryAfterMs } from '../net/retry.ts';

interface StatusBody {
  reason?: string;
  message?: string;
  /** A 410 on a list continuation carries a token that continues the list from a newer snapshot. */
  metadata?: { continue?: string };
}

function parseStatus(body: unknown): StatusBody {
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as StatusBody;
    } catch {
      return {};
    }
  }
  return typeof body === 'object' && body !== null ? body : {};
}

/** What a request was doing, for messages: `create secret team-a/regcred-1a2b3c4d5e`. */
export interface KubeOp {
  verb: string;
  resource: string;
  namespace?: string | undefined;
  name?: string | undefined;
}

export const describeOp = (op: KubeOp): string =>
  `${op.verb} ${op.resource}${op.namespace || op.name ? ' ' : ''}${op.namespace ? `${op.namespace}/` : ''}${op.name ?? ''}`;

/**
 * A 403 comes from RBAC or from an admission check that refused the write (deploy/cluster's
 * ValidatingAdmissionPolicy limiting the rotator's writes, or someone else's policy or webhook): the fix
 * is in a different place.
 */
function forbiddenHint(msg: string): string {
  if (
    /ValidatingAdmissionPolicy '[^']*'.* denied request|admission webhook "[^"]*" denied the request/.test(
      msg,
    )
  )
    return 'refused by an admission policy of the cluster, not by RBAC: the policy named above says what it allows';
  return "grant this in the rotator's RBAC, see deploy/";
}

/**
 * Turns what a request threw (a KubeHttpError or a network error) into a RotatorError with a message an
 * operator can act on. The raw HTTP error is deliberately not kept as `cause`: it carries the raw
 * response, headers included.
 */
export function mapKubeError(e: unknown, op: KubeOp): RotatorError {
  const what = describeOp(op);
  const details = { verb: op.verb, resource: op.resource, namespace: op.namespace, name: op.name };
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'number' && code >= 100) {
    const status = parseStatus((e as { body?: unknown }).body);
    const msg = (status.message ?? '').slice(0, 400);
    const headers = (e as { headers?: Record<string, string> }).headers ?? {};
    const retryAfter = retryAfterMs(headers['retry-after']);
    const make = (c: ErrorCode, text: string, retryable = false, extra: Record<string, string> = {}) =>
      new RotatorError(c, `${what}: ${text}`, {
        retryable,
        details: { ...details, status: code, reason: status.reason, retryAfterMs: retryAfter, ...extra },
      });
    switch (code) {
      case 401:
        return make(
          'KUBE_UNAUTHORIZED',
          'the API server rejected our credentials (401); refresh the kubeconfig or token',
        );
      case 403:
        return make('KUBE_FORBIDDEN', `${msg || 'forbidden'} (${forbiddenHint(msg)})`);
      case 404:
        return make('KUBE_NOT_FOUND', msg || 'not found');
      case 409:
        return status.reason === 'AlreadyExists'
          ? make('KUBE_ALREADY_EXISTS', msg || 'already exists')
          : make('KUBE_CONFLICT', msg || 'conflict');
      case 410: {
        // Retrying the same expired continuation cannot succeed; a list goes on with the token the
        // answer carries, if any (KubeCaller.pages).
        const next = status.metadata?.continue;
        return make(
          'KUBE_CONFLICT',
          msg || 'gone (list continuation expired)',
          false,
          next ? { continue: next } : {},
        );
      }
      case 422:
        return make('KUBE_INVALID', msg || 'invalid');
      case 429:
        return make('KUBE_UNAVAILABLE', 'throttled by the API server (429)', true);
      default:
        if (code >= 500)
          return make('KUBE_UNAVAILABLE', `API server error ${code}${msg ? `: ${msg}` : ''}`, true);
        return make('KUBE_INVALID', `unexpected HTTP ${code}${msg ? `: ${msg}` : ''}`);
    }
  }
  // Raised before any request left (a credential plugin missing or failing): its message is the cause.
  if (e instanceof RotatorError)
    return new RotatorError(e.code, `${what}: ${e.message}`, {
      retryable: e.retryable,
      details: { ...details, ...e.details },
    });
  const err = e as Error & { code?: unknown; cause?: { code?: string; name?: string } };
  const timedOut = e instanceof NetworkError && (e.kind === 'timeout' || e.kind === 'aborted');
  if (
    timedOut ||
    err.name === 'TimeoutError' ||
    err.name === 'AbortError' ||
    err.cause?.name === 'TimeoutError'
  ) {
    return new RotatorError('KUBE_TIMEOUT', `${what}: no answer from the API server in time`, {
      retryable: true,
      details,
    });
  }
  // The proxy refused or could not be reached: the API server was never contacted, and the message says so.
  if (e instanceof NetworkError && (e.kind === 'proxy' || e.kind === 'proxy-refused'))
    return new RotatorError('KUBE_UNAVAILABLE', `${what}: ${e.message}`, {
      retryable: e.kind === 'proxy',
      details,
    });
  const cause = err.cause?.code ?? (typeof err.code === 'string' ? err.code : '');
  if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY/.test(cause)) {
    return new RotatorError(
      'KUBE_UNAVAILABLE',
      `${what}: TLS with the API server failed (${cause}); check the kubeconfig's certificate-authority`,
      { details },
    );
  }
  return new RotatorError(
    'KUBE_UNAVAILABLE',
    `${what}: cannot reach the API server${e instanceof NetworkError ? ` (${e.message})` : cause ? ` (${cause})` : ''}`,
    { retryable: true, details },
  );
}
