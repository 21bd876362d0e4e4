import { RotatorError, type ErrorCode } from '../../errors.ts';
import { ArmError } from './client.ts';

/** What every message names: the registry object and the identity acting on it. Never a secret. */
export interface Where {
  registry: string;
  token: string;
  identity: string;
}

export function issuerError(
  code: ErrorCode,
  w: Where,
  what: string,
  o: {
    cause?: unknown;
    retryable?: boolean;
    details?: Record<string, string | number | boolean | undefined>;
  } = {},
): RotatorError {
  return new RotatorError(
    code,
    `issuer acr-token (registry ${w.registry}, token ${w.token}) as ${w.identity}: ${what}`,
    {
      cause: o.cause,
      retryable: o.retryable ?? false,
      details: { issuer: 'acr-token', registry: w.registry, token: w.token, ...o.details },
    },
  );
}

/** A short reason for an ARM failure: status and ARM's code, or what happened on the network. */
export const armReason = (e: ArmError): string =>
  e.status === undefined ? e.message : `HTTP ${e.status} ${e.code}`;

const firstLine = (s: string): string => s.split(/\r?\n/)[0]?.slice(0, 300) ?? '';

/** Entra's own reason (AADSTS…) without trace ids, or the credential's first line. */
function identityReason(message: string): string {
  const m = /(AADSTS\d+:[^\r\n]*?)(?:\s+Trace ID:|\r|\n|$)/.exec(message);
  return m?.[1]?.slice(0, 300) ?? firstLine(message).replace(/^\w+Credential: /, '');
}

/**
 * An ARM failure as the error the engine acts on. Decisions use the status and ARM's code, never the
 * message; the message keeps ARM's own reason (it names actions and scopes, never a secret).
 * `action` is the permission the call needs, named when ARM's 403 does not say which one it lacked.
 */
export function mapArmError(e: unknown, w: Where, doing: string, action: string): RotatorError {
  if (e instanceof RotatorError) return e;
  if (!(e instanceof ArmError))
    return issuerError('ISSUER_UNAVAILABLE', w, `${doing}: ${(e as Error).name}`, { cause: e });
  const details = { status: e.status, armCode: e.code };
  const retryable = { retryable: true, cause: e, details };
  if (e.code === 'identity')
    return issuerError(
      'ISSUER_AUTH',
      w,
      `${doing}: could not get a token for ARM: ${identityReason(e.message)}`,
      {
        cause: e,
        details,
      },
    );
  if (e.code.startsWith('network:'))
    return issuerError('ISSUER_UNREACHABLE', w, `${doing}: ARM did not answer: ${e.message}`, retryable);
  // An answer without ARM's error envelope (a proxy's 503, say) has only its status to tell.
  const arm =
    e.code === `HTTP${e.status}` ? 'no ARM error in the answer' : `${e.code}: ${firstLine(e.message)}`;
  switch (e.status) {
    case 401: {
      const hint =
        e.code === 'InvalidAuthenticationTokenAudience'
          ? ' (set armAudience to the resource this ARM endpoint accepts)'
          : '';
      return issuerError('ISSUER_AUTH', w, `${doing}: ARM refused the token (${arm})${hint}`, {
        cause: e,
        details,
      });
    }
    case 403: {
      const missing =
        /perform action '([^']+)'/.exec(e.message)?.[1] ?? `Microsoft.ContainerRegistry/registries/${action}`;
      return issuerError(
        'ISSUER_PERMISSION',
        w,
        `${doing}: not allowed to perform '${missing}' (ARM ${e.code}); give the identity a role with that action at the registry (role assignments can take minutes to apply)`,
        { cause: e, details: { ...details, action: missing } },
      );
    }
    case 404:
      return issuerError('ISSUER_NOT_FOUND', w, `${doing}: not found (${arm})`, { cause: e, details });
    case 409:
      return issuerError('ISSUER_UNAVAILABLE', w, `${doing}: ARM refused it for now (${arm})`, retryable);
    case 429: {
      const after = e.retryAfterMs === undefined ? '' : `; retry after ${Math.ceil(e.retryAfterMs / 1000)} s`;
      return issuerError(
        'ISSUER_UNAVAILABLE',
        w,
        `${doing}: throttled by ARM (${e.code})${after}`,
        retryable,
      );
    }
    default:
      if (e.status === undefined || e.status === 408 || e.status >= 500 || e.status === 200)
        return issuerError(
          'ISSUER_UNAVAILABLE',
          w,
          `${doing}: ${e.status ? `HTTP ${e.status} ` : ''}(${arm})`,
          retryable,
        );
      return issuerError('ISSUER_UNAVAILABLE', w, `${doing}: ARM answered HTTP ${e.status} (${arm})`, {
        cause: e,
        details,
      });
  }
}
