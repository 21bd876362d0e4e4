import type { Target } from '../../config/types.ts';
import type { FetchCache, ResolvedCredentials } from '../../credentials/resolve.ts';
import { openSource } from '../../credentials/source.ts';
import { errorInfo, RotatorError, type ErrorCode } from '../../errors.ts';
import { assessAge } from '../../policy/age.ts';
import type { RunDeps, TargetResult } from './summary.ts';

export interface ReadyTarget {
  target: Target;
  resolved: ResolvedCredentials;
  result: TargetResult;
}

/** Fetch once per target, validate, check policy, verify against the registry. Failures touch nothing. */
export async function prepareTarget(
  t: Target,
  deps: RunDeps,
  cache: FetchCache,
): Promise<ReadyTarget | TargetResult> {
  const { config, logger } = deps;
  const result: TargetResult = {
    target: t.name,
    store: t.store,
    outcome: 'ok',
    secret: undefined,
    revision: undefined,
    sourceUpdatedAt: undefined,
    age: { state: 'unknown', ageDays: undefined, daysLeft: undefined },
    verification: [],
    namespaces: 0,
    warnings: [],
  };
  try {
    const resolved = await openSource(t, deps.openStore(t.store)).read(cache);
    result.sourceUpdatedAt = resolved.updatedAt;
    result.age = assessAge(resolved.updatedAt, deps.now(), config.policy);
    if (result.age.state === 'unknown')
      result.warnings.push(
        'the store reports no age for these credentials; the age policy cannot be checked',
      );
    if (config.rotation.verifyCredentials) {
      for (const cred of resolved.creds) {
        const v = await deps.verify(cred);
        result.verification.push(v);
        logger.info(
          { target: t.name, registry: v.registry, outcome: v.outcome, flow: v.flow },
          'registry verification',
        );
        if (v.outcome === 'no-auth-required') result.warnings.push(`${v.registry}: ${v.detail}`);
        else if (v.outcome !== 'accepted') {
          const code: ErrorCode =
            v.outcome === 'rejected'
              ? 'REGISTRY_REJECTED'
              : v.outcome === 'unreachable'
                ? 'REGISTRY_UNREACHABLE'
                : 'REGISTRY_NOT_A_REGISTRY';
          throw new RotatorError(
            code,
            `target ${t.name}: registry ${v.registry} ${v.outcome === 'rejected' ? 'rejected the new credentials' : v.outcome === 'unreachable' ? 'is unreachable' : 'did not answer like a registry'} (${v.detail}); no namespace was touched`,
            {
              details: { target: t.name, registry: v.registry },
            },
          );
        }
      }
    } else {
      result.warnings.push('credential verification is disabled (rotation.verifyCredentials: false)');
    }
    return { target: t, resolved, result };
  } catch (e) {
    result.outcome = 'failed';
    result.error = errorInfo(e);
    logger.error(
      { target: t.name, store: t.store, code: result.error.code, err: result.error.message },
      'target failed before any write',
    );
    return result;
  }
}
