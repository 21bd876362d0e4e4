import { describe, expect, it } from 'vitest';
import { NetworkError } from '../../../src/net/http.ts';
import { failureCode, requestLabels } from '../../../src/kube/request-labels.ts';

describe('request metric labels', () => {
  it.each([
    ['GET', '/api/v1/namespaces', false, 'list', 'namespaces'],
    ['GET', '/api/v1/namespaces/team-a', false, 'get', 'namespaces'],
    ['GET', '/api/v1/secrets', false, 'list', 'secrets'],
    ['GET', '/api/v1/namespaces/team-a/secrets', false, 'list', 'secrets'],
    ['GET', '/api/v1/namespaces/team-a/secrets/regcred-abc', false, 'get', 'secrets'],
    ['GET', '/api/v1/serviceaccounts', true, 'watch', 'serviceaccounts'],
    ['GET', '/api/v1/namespaces/team-a/secrets?watch=1', true, 'watch', 'secrets'],
    ['POST', '/api/v1/namespaces/team-a/secrets', false, 'create', 'secrets'],
    ['PUT', '/api/v1/namespaces/team-a/secrets/regcred-abc', false, 'update', 'secrets'],
    ['PATCH', '/api/v1/namespaces/team-a/serviceaccounts/default', false, 'patch', 'serviceaccounts'],
    ['DELETE', '/api/v1/namespaces/team-a/secrets/regcred-abc', false, 'delete', 'secrets'],
    ['GET', '/apis/coordination.k8s.io/v1/namespaces/ops/leases/regcred', false, 'get', 'leases'],
    ['POST', '/apis/events.k8s.io/v1/namespaces/team-a/events', false, 'create', 'events'],
    [
      'POST',
      '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
      false,
      'create',
      'selfsubjectaccessreviews',
    ],
  ])('%s %s (watch: %s) is %s %s', (method, path, watch, verb, resource) => {
    expect(requestLabels(method, path, watch)).toEqual({ verb, resource });
  });

  it('never carries a namespace or object name', () => {
    const labels = requestLabels('DELETE', '/api/v1/namespaces/team-secret-ns/secrets/regcred-x1', false);
    expect(JSON.stringify(labels)).not.toMatch(/team-secret-ns|regcred-x1/);
  });

  it('a request without an answer is labelled by its network failure, else "error"', () => {
    expect(failureCode(new NetworkError('timeout', 'timed out'))).toBe('timeout');
    expect(failureCode(new NetworkError('refused', 'refused'))).toBe('refused');
    expect(failureCode(new Error('boom'))).toBe('error');
  });
});
