import { describe, expect, it } from 'vitest';
import { mapKubeError } from '../../../src/kube/errors.ts';

const forbidden = (message: string) => ({
  code: 403,
  body: JSON.stringify({ kind: 'Status', status: 'Failure', reason: 'Forbidden', message, code: 403 }),
  headers: {},
});
const op = { verb: 'create', resource: 'secrets', namespace: 'team-a', name: 'tls' };

describe('mapKubeError: a 403 says where the fix is', () => {
  it('RBAC: grant it in the rotator’s RBAC', () => {
    const e = mapKubeError(
      forbidden(
        'secrets is forbidden: User "system:serviceaccount:regcred-rotator:regcred-rotator" cannot create resource "secrets" in API group "" in the namespace "team-a"',
      ),
      op,
    );
    expect(e.code).toBe('KUBE_FORBIDDEN');
    expect(e.message).toMatch(
      /cannot create resource "secrets".*\(grant this in the rotator's RBAC, see deploy\/\)$/,
    );
  });

  it('an admission policy or webhook that denied the write: not RBAC', () => {
    for (const message of [
      "secrets \"tls\" is forbidden: ValidatingAdmissionPolicy 'regcred-rotator' with binding 'regcred-rotator' denied request: the rotator may write only Secrets of type kubernetes.io/dockerconfigjson",
      'admission webhook "validate.example.com" denied the request: no',
    ]) {
      const e = mapKubeError(forbidden(message), op);
      expect(e.code).toBe('KUBE_FORBIDDEN');
      expect(e.message).toContain(message);
      expect(e.message).toMatch(/refused by an admission policy of the cluster, not by RBAC/);
      expect(e.message).not.toMatch(/RBAC, see deploy/);
    }
  });
});
