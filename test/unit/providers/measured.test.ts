import { describe, expect, it } from 'vitest';
import { Sensitive } from '../../../src/base/sensitive.ts';
import { RotatorError } from '../../../src/errors.ts';
import { Metrics } from '../../../src/observability/metrics.ts';
import { measuredStore, type StoreRequest } from '../../../src/providers/measured.ts';
import type { SecretStore } from '../../../src/providers/types.ts';

const PASSWORD = 'pw-never-in-metrics-7f3a';

/** A store at a seam we own: `get` answers one key and refuses the rest the way real stores do. */
function store(): SecretStore {
  return {
    name: 'vault-prod',
    type: 'vault',
    get: async (key) => {
      if (key === 'team/known') return { value: new Sensitive(PASSWORD), revision: '3' };
      if (key === 'team/denied')
        throw new RotatorError('STORE_PERMISSION', 'permission denied on team/denied');
      if (key === 'team/boom') throw new Error('not a store error');
      throw new RotatorError('STORE_NOT_FOUND', `no key ${key}`);
    },
    check: async () => 'reachable',
    close: async () => undefined,
  };
}

describe('store request metrics', () => {
  it('reports every call with its operation and outcome, and passes results and errors through', async () => {
    const seen: StoreRequest[] = [];
    const s = measuredStore(store(), (r) => seen.push(r));
    expect((await s.get('team/known')).value.reveal()).toBe(PASSWORD);
    await expect(s.get('team/missing')).rejects.toThrow(/no key team\/missing/);
    await expect(s.get('team/denied')).rejects.toMatchObject({ code: 'STORE_PERMISSION' });
    await expect(s.get('team/boom')).rejects.toThrow('not a store error');
    expect(await s.check()).toBe('reachable');
    expect(seen.map((r) => [r.store, r.type, r.operation, r.outcome])).toEqual([
      ['vault-prod', 'vault', 'get', 'ok'],
      ['vault-prod', 'vault', 'get', 'not_found'],
      ['vault-prod', 'vault', 'get', 'permission'],
      ['vault-prod', 'vault', 'get', 'error'],
      ['vault-prod', 'vault', 'check', 'ok'],
    ]);
    for (const r of seen) expect(r.seconds).toBeGreaterThanOrEqual(0);
    // Only what the store has: a read-only store stays read-only when measured.
    expect('put' in s).toBe(false);
    expect('listChildren' in s).toBe(false);
  });

  it('exposes counts and durations without the key or the value', async () => {
    const m = new Metrics();
    const s = measuredStore(store(), (r) => m.storeRequest(r));
    await s.get('team/known');
    await s.get('team/missing').catch(() => undefined);
    m.kubeRequest({ verb: 'list', resource: 'secrets', code: '200', seconds: 0.02 });
    m.kubeRequest({ verb: 'watch', resource: 'secrets', code: 'reset', seconds: 300 });
    const text = await m.registry.metrics();
    expect(text).toMatch(
      /regcred_rotator_store_requests_total\{store="vault-prod",type="vault",operation="get",outcome="ok"\} 1/,
    );
    expect(text).toMatch(/regcred_rotator_store_requests_total\{[^}]*outcome="not_found"\} 1/);
    expect(text).toMatch(
      /regcred_rotator_store_request_duration_seconds_count\{store="vault-prod",type="vault",operation="get"\} 2/,
    );
    expect(text).toMatch(
      /regcred_rotator_kube_requests_total\{verb="list",resource="secrets",code="200"\} 1/,
    );
    expect(text).toMatch(
      /regcred_rotator_kube_requests_total\{verb="watch",resource="secrets",code="reset"\} 1/,
    );
    expect(text).toMatch(
      /regcred_rotator_kube_request_duration_seconds_count\{verb="list",resource="secrets"\} 1/,
    );
    // A watch's duration is how long it stayed open, not a latency: kept out of the histogram.
    expect(text).not.toMatch(/regcred_rotator_kube_request_duration_seconds_count\{verb="watch"/);
    expect(text).not.toMatch(/team\/|known|missing|pw-never/);
  });
});
