import { describe, expect, it } from 'vitest';
import { issuanceFields } from '../../../src/cli/issuance-summary.ts';
import type { TargetIssuanceReport } from '../../../src/issuance/run.ts';

const ref = (id: string) => ({
  id,
  label: `token t, slot ${id}`,
  issuedAt: new Date('2026-12-01T00:00:00Z'),
});

describe('the issuance part of the run summary', () => {
  it('says what was issued, how long the registry took to accept it, and what was revoked', () => {
    const reports: TargetIssuanceReport[] = [
      {
        target: 'acr',
        issuing: true,
        issuer: 'acr-token',
        inUse: ref('password2'),
        issue: { why: 'due', what: 'regenerate password2', done: true, verifiedAfterMs: 61_250 },
        pending: [],
        revoked: [{ ref: { ...ref('password1'), state: 'active' }, why: 'superseded' }],
      },
      { target: 'plain', issuing: true, issuer: 'gitea-token', inUse: ref('7'), pending: [], revoked: [] },
    ];
    const [issued, idle] = issuanceFields(reports) as Record<string, unknown>[];
    expect(issued).toMatchObject({
      target: 'acr',
      issued: 'regenerate password2',
      verifiedAfterMs: 61_250,
      revoked: ['token t, slot password1'],
    });
    // Nothing issued: no wait to report.
    expect(idle?.['issued']).toBeUndefined();
    expect(idle?.['verifiedAfterMs']).toBeUndefined();
  });
});
