import { RotatorError, type ErrorCode } from '../../errors.ts';
import { jsonBody, type HttpResponse, type NetworkError } from '../../net/http.ts';

/** What a request was for: every error names the server, the object, the identity used. */
export interface Operation {
  url: string;
  /** What was attempted, naming the object: `delete token 12 ("regcred-…") of user "puller"`. */
  action: string;
  user: string;
  login: string;
}

/** Gitea's JSON error body `{"message": …}`, cut short; it never echoes credentials. */
export function giteaMessage(res: HttpResponse): string {
  const m = (jsonBody(res) as { message?: unknown } | undefined)?.message;
  return typeof m === 'string' ? m.slice(0, 200) : '';
}

interface Extra {
  status?: number;
  cause?: unknown;
  retryable?: boolean;
}

function error(code: ErrorCode, op: Operation, why: string, x: Extra = {}): RotatorError {
  const message = `gitea ${op.url}: cannot ${op.action} as "${op.login}": ${why}`;
  return new RotatorError(code, message, {
    cause: x.cause,
    retryable: x.retryable ?? (code === 'ISSUER_UNREACHABLE' || code === 'ISSUER_UNAVAILABLE'),
    details: { issuer: 'gitea-token', url: op.url, user: op.user, login: op.login, status: x.status },
  });
}

/**
 * The permission a 403 says is missing, from Gitea's own messages (routers/api/v1/api.go, user/app.go), in
 * words an operator can act on.
 */
function missingPermission(message: string, op: Operation): string {
  if (/site admin or be same as the contextUser/i.test(message))
    return `only "${op.user}" itself or a site admin may manage its tokens (set login.username to "${op.user}")`;
  if (/required scope/i.test(message))
    return 'the login token lacks the write:user scope (read:user to list); mint it with write:user,read:package';
  if (/broader scope/i.test(message))
    return 'the login token may only mint tokens within its own scopes: give it the requested scopes too';
  if (/only administrators allowed to sudo/i.test(message)) return 'sudo needs a site admin';
  return message || 'permission denied';
}

/** Maps Gitea's refusal of `op` to a RotatorError; 404 means the user does not exist. */
export function refusal(res: HttpResponse, op: Operation): RotatorError {
  const msg = giteaMessage(res);
  const said = msg ? ` (${msg})` : '';
  switch (res.status) {
    case 401:
      return error(
        'ISSUER_AUTH',
        op,
        `the login was refused (HTTP 401${msg ? `: ${msg}` : ''}): check login.username and the password or token it reads`,
        { status: 401 },
      );
    case 403:
      return error('ISSUER_PERMISSION', op, `HTTP 403: ${missingPermission(msg, op)}`, { status: 403 });
    case 404:
      return error('ISSUER_NOT_FOUND', op, `no user "${op.user}" at this server (HTTP 404)`, { status: 404 });
    case 400:
    case 422:
      return error('ISSUER_REJECTED', op, `the request was refused as invalid (HTTP ${res.status}${said})`, {
        status: res.status,
      });
    default:
      return error(
        res.status === 429 || res.status >= 500 ? 'ISSUER_UNAVAILABLE' : 'ISSUER_REJECTED',
        op,
        `HTTP ${res.status}${said}`,
        { status: res.status },
      );
  }
}

/** An answer Gitea would not send: a proxy in the way, or another server at that URL. */
export function malformed(op: Operation, what: string): RotatorError {
  return error('ISSUER_UNAVAILABLE', op, `unexpected answer (${what}): is ${op.url} a Gitea server?`, {
    retryable: false,
  });
}

/** A request that got no answer (after retries). TLS and DNS problems are not retryable. */
export function unreachable(e: NetworkError, op: Operation): RotatorError {
  return error('ISSUER_UNREACHABLE', op, e.message, {
    cause: e,
    retryable: e.kind !== 'tls' && e.kind !== 'dns',
  });
}
