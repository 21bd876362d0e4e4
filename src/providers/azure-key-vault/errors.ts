import { RotatorError, type ErrorCode } from '../../errors.ts';

/** What we read of the SDKs' errors: RestError (status, code, details) and @azure/identity's errors. */
interface AzureErrorLike {
  name?: string;
  message?: string;
  statusCode?: number;
  code?: string;
  details?: { error?: { code?: string; innerError?: { code?: string } } };
  /** @azure/identity's AuthenticationError: Entra's own answer. */
  errorResponse?: { errorDescription?: string };
}

export interface Where {
  store: string;
  vaultUrl: string;
  identity: string;
  key: string | undefined;
  /** A write (an issuer storing a new version) needs another role than a read. */
  writing?: boolean | undefined;
}

const firstLine = (s: string | undefined): string => (s ?? '').split(/\r?\n/)[0]?.slice(0, 240) ?? '';

/** Entra's own explanation (AADSTS…), without the trace ids and the SDK's troubleshooting boilerplate. */
function identityReason(r: AzureErrorLike): string {
  const text = r.errorResponse?.errorDescription ?? r.message ?? '';
  const m = /(AADSTS\d+:[^\r\n]*?)(?:\s+Trace ID:|\r|\n|$)/.exec(text);
  if (m?.[1]) return m[1].slice(0, 300);
  return firstLine(text)
    .replace(/^\w+Credential: /, '')
    .slice(0, 300);
}

export function storeError(code: ErrorCode, w: Where, what: string, cause?: unknown): RotatorError {
  const key = w.key === undefined ? '' : ` key "${w.key}"`;
  return new RotatorError(code, `store "${w.store}" (azure-key-vault ${w.vaultUrl})${key}: ${what}`, {
    cause,
    retryable: code === 'STORE_UNREACHABLE' || code === 'STORE_UNAVAILABLE',
    details: { store: w.store, key: w.key },
  });
}

/**
 * An SDK error as a store error the engine acts on. Decisions use Azure's structured codes (status, error
 * code, inner error code), never the message text; the message shown keeps Azure's own reason (AKV…,
 * AADSTS…), which names no secret value or token.
 */
export function mapAzureError(e: unknown, w: Where): RotatorError {
  const r = (e ?? {}) as AzureErrorLike;
  const inner = r.details?.error?.innerError?.code;
  const as = `as ${w.identity}`;
  if (
    r.name === 'CredentialUnavailableError' ||
    r.name === 'AuthenticationError' ||
    r.name === 'AuthenticationRequiredError' ||
    r.name === 'AggregateAuthenticationError'
  ) {
    return storeError('STORE_AUTH', w, `could not get a token ${as}: ${identityReason(r)}`, e);
  }
  switch (r.statusCode) {
    case 401:
      return storeError(
        'STORE_AUTH',
        w,
        `the vault refused the token of ${w.identity}: ${firstLine(r.message)}`,
        e,
      );
    case 403:
      if (inner === 'SecretDisabled')
        return storeError(
          'STORE_SECRET_DISABLED',
          w,
          'the secret is disabled in the vault; enable it or point the target at another secret (nothing was rolled out)',
          e,
        );
      return storeError(
        'STORE_PERMISSION',
        w,
        w.writing === true
          ? `permission denied (${inner ?? r.code ?? 'Forbidden'}) for ${w.identity} writing a new version: it needs Microsoft.KeyVault/vaults/secrets/setSecret/action — the role "Key Vault Secrets Officer" on the vault or this secret (or "set" in its access policy)`
          : `permission denied (${inner ?? r.code ?? 'Forbidden'}) for ${w.identity}: give it the role "Key Vault Secrets User" on the vault (or "get" in its access policy)`,
        e,
      );
    case 404:
      return storeError('STORE_NOT_FOUND', w, 'no such secret in the vault', e);
    case undefined:
      // The SDK's own check that the vault's challenge names this vault's domain (no structured code).
      if (/challenge resource/i.test(r.message ?? ''))
        return storeError(
          'STORE_AUTH',
          w,
          `refused the vault's authentication challenge: ${firstLine(r.message)}`,
          e,
        );
      return storeError(
        'STORE_UNREACHABLE',
        w,
        `cannot reach the vault (${r.code ?? r.name ?? 'network error'})`,
        e,
      );
    default:
      if (r.statusCode === 429 || r.statusCode >= 500)
        return storeError(
          'STORE_UNAVAILABLE',
          w,
          `the vault answered HTTP ${r.statusCode} (${r.code ?? 'no code'}) after retries`,
          e,
        );
      return storeError(
        'STORE_UNAVAILABLE',
        w,
        `unexpected answer HTTP ${r.statusCode} (${r.code ?? 'no code'}): ${firstLine(r.message)}`,
        e,
      );
  }
}
