import { describe, expect, it } from 'vitest';
import {
  certStep,
  DEFAULT_TIMING,
  pemBlocks,
  renewAt,
  type CertView,
} from '../../../src/admission/cert-plan.ts';

const DAY = 86_400_000;
const issued = new Date('2026-01-01T00:00:00Z');
const leaf = { notBefore: issued, notAfter: new Date(issued.getTime() + 90 * DAY), coversHosts: true };
const view = (o: Partial<CertView> = {}): CertView => ({ exists: true, leaf, cas: 1, forced: false, ...o });
const at = (days: number) => new Date(issued.getTime() + days * DAY);

describe('certStep', () => {
  it.each<[string, CertView, Date, string]>([
    ['no Secret: issue', { exists: false, cas: 0, forced: false }, at(1), 'renew missing'],
    [
      'unreadable (bad PEM, key mismatch, not signed by ca.crt): issue',
      view({ leaf: undefined }),
      at(1),
      'renew unreadable',
    ],
    ['an operator asked: renew', view({ forced: true }), at(1), 'renew forced'],
    ['a host was added: renew', view({ leaf: { ...leaf, coversHosts: false } }), at(1), 'renew hosts'],
    ['two thirds through its life: nothing', view(), at(59), 'none'],
    ['a third of its life left: renew', view(), at(60), 'renew expiring'],
    ['expired: renew', view(), at(91), 'renew expiring'],
    [
      'old CA still trusted, its time not up: keep it',
      view({ cas: 2, previousCaUntil: at(2) }),
      at(1),
      'none',
    ],
    [
      'old CA still trusted, its time up: drop it',
      view({ cas: 2, previousCaUntil: at(2) }),
      at(2),
      'drop-previous',
    ],
    ['two CAs and no deadline (crash mid-way): drop', view({ cas: 2 }), at(1), 'drop-previous'],
  ])('%s', (_name, v, now, want) => {
    const s = certStep(v, now, DEFAULT_TIMING);
    expect(s.kind === 'renew' ? `renew ${s.why}` : s.kind).toBe(want);
  });

  it('renews at two thirds of the lifetime by default', () => {
    expect(renewAt(leaf, DEFAULT_TIMING).toISOString()).toBe(at(60).toISOString());
  });

  it('splits a PEM bundle', () => {
    const one = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----';
    expect(pemBlocks(`${one}\n${one}`)).toEqual([`${one}\n`, `${one}\n`]);
    expect(pemBlocks('')).toEqual([]);
  });
});
