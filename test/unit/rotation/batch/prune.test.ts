import { describe, expect, it } from 'vitest';
import { REVISION_ID_ANNOTATION } from '../../../../src/kube/labels.ts';
import { planPrune, removeEntries } from '../../../../src/rotation/batch/prune.ts';
import { pod, sa, secret } from '../../helpers/builders.ts';

const swap = (name: string, target: string) => {
  const s = secret(name, { target });
  s.annotations[REVISION_ID_ANNOTATION] = name.slice(name.lastIndexOf('-') + 1);
  return s;
};

describe('planPrune', () => {
  const removed = new Set(['ghcr']); // acr is still configured; ghcr was removed
  it('deletes secrets of removed targets that nothing references; keeps referenced ones with the reason', () => {
    const p = planPrune(
      removed,
      [
        swap('regcred-acr-aaaaaaaaaa', 'acr'),
        swap('old-ghcr-1111111111', 'ghcr'),
        swap('old-ghcr-2222222222', 'ghcr'),
        swap('old-ghcr-3333333333', 'ghcr'),
      ],
      [sa('default', ['regcred-acr-aaaaaaaaaa', 'old-ghcr-2222222222'])],
      [pod('web', ['old-ghcr-3333333333']), pod('done', ['old-ghcr-1111111111'], 'Succeeded')],
    );
    expect(p.actions.map((a) => (a.kind === 'delete-secret' ? a.name : a.kind))).toEqual([
      'old-ghcr-1111111111',
    ]);
    expect(p.kept.map((k) => `${k.name}: ${k.reason}`)).toEqual([
      'old-ghcr-2222222222: referenced by serviceaccount default',
      'old-ghcr-3333333333: 1 live pod still references it (web)',
    ]);
  });

  it('never proposes anything unlabelled or of a target that was not removed', () => {
    const p = planPrune(
      removed,
      [swap('regcred-acr-aaaaaaaaaa', 'acr')],
      [sa('default', ['regcred', 'regcred-acr-bbbbbbbbbb'])],
      [],
    );
    expect(p).toEqual({ actions: [], kept: [], candidates: [] });
  });

  it('an entry naming a removed target’s secret that is not there is a candidate (absence is confirmed before removal)', () => {
    const p = planPrune(
      removed,
      [swap('old-ghcr-1111111111', 'ghcr')],
      [sa('default', ['team-mirror', 'old-ghcr-9999999999', 'old-ghcr-1111111111', 'unrelated-9999999999'])],
      [],
    );
    expect(p.candidates).toEqual([
      { namespace: 'team-a', serviceAccount: 'default', entry: 'old-ghcr-9999999999', target: 'ghcr' },
    ]);
    const write = removeEntries(
      sa('default', ['team-mirror', 'old-ghcr-9999999999', 'b']),
      new Set(['old-ghcr-9999999999']),
      'ghcr',
    );
    expect(write).toMatchObject({
      kind: 'remove-entry',
      to: ['team-mirror', 'b'],
      entry: 'old-ghcr-9999999999',
    });
  });
});
