import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/base/logger.ts';
import type { AdmissionEngine, Provisioned } from '../../../src/admission/engine.ts';
import { reviewHandler } from '../../../src/admission/webhook.ts';

const CURRENT = 'regcred-0123456789';
/** The engine at the admission side's own seam (engine.ts): what it answers, what it was asked to do. */
function engine(provisioned: Provisioned, sa: string[] = []) {
  const calls: string[] = [];
  const e = {
    covering: async (ns: string) =>
      ns === 'team-a'
        ? [{ target: 'apps', secretBase: 'regcred', name: CURRENT, serviceAccounts: ['default'] as const }]
        : [],
    serviceAccountList: async () => sa,
    provision: async (ns: string) => {
      calls.push(`provision ${ns}`);
      return provisioned;
    },
  } as unknown as AdmissionEngine;
  return { e, calls };
}
const review = (o: { dryRun?: boolean; ns?: string; pullSecrets?: string[] } = {}) => ({
  request: {
    uid: 'u',
    kind: { group: '', kind: 'Pod' },
    resource: { resource: 'pods' },
    operation: 'CREATE',
    namespace: o.ns ?? 'team-a',
    dryRun: o.dryRun ?? false,
    object: {
      metadata: { generateName: 'app-' },
      spec: { imagePullSecrets: o.pullSecrets?.map((name) => ({ name })) },
    },
  },
});
const log = createLogger({ level: 'silent' });
const injected = [{ op: 'add', path: '/spec/imagePullSecrets', value: [{ name: CURRENT }] }];

describe('the webhook handler', () => {
  it('provisions the namespace, then patches', async () => {
    const { e, calls } = engine({ ok: true });
    expect(await reviewHandler(e, log, 3000)(review())).toEqual({ patch: injected });
    expect(calls).toEqual(['provision team-a']);
  });
  it('a dry run: the patch, and no provisioning (no write: sideEffects NoneOnDryRun)', async () => {
    const { e, calls } = engine({ ok: true });
    expect(await reviewHandler(e, log, 3000)(review({ dryRun: true }))).toEqual({ patch: injected });
    expect(calls).toEqual([]);
  });
  it('late or a passing error: patches anyway (the secret is on its way)', async () => {
    const { e } = engine({ ok: false, retryable: true, error: 'not done within 3000 ms' });
    expect(await reviewHandler(e, log, 3000)(review())).toEqual({ patch: injected });
  });
  it('cannot succeed (a foreign Secret holds the name): the pod as it came', async () => {
    const { e } = engine({ ok: false, retryable: false, error: 'OWNERSHIP: …' });
    expect(await reviewHandler(e, log, 3000)(review())).toEqual({});
  });
  it('outside the targets, or naming ours: nothing asked of the engine', async () => {
    const { e, calls } = engine({ ok: true }, [CURRENT]);
    expect(await reviewHandler(e, log, 3000)(review({ ns: 'other' }))).toEqual({});
    expect(await reviewHandler(e, log, 3000)(review({ pullSecrets: [CURRENT] }))).toEqual({});
    expect(calls).toEqual([]);
  });
});
