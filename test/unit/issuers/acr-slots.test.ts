import { describe, expect, it } from 'vitest';
import {
  alreadyRevoked,
  parseArmTime,
  parseToken,
  targetSlot,
  type SlotState,
  type TokenState,
} from '../../../src/issuers/acr/slots.ts';

const at = (iso: string) => new Date(iso);
const token = (...slots: SlotState[]): TokenState => ({
  status: 'enabled',
  provisioningState: 'Succeeded',
  slots,
});
const slot = (name: 'password1' | 'password2', created?: string): SlotState => ({
  name,
  createdAt: parseArmTime(created),
  expiresAt: undefined,
});

describe('parseArmTime', () => {
  it.each([
    ['2026-01-02T03:04:06.1111111Z', '2026-01-02T03:04:06.111Z'], // the service: seven digits, Z
    ['2026-01-02T03:04:06Z', '2026-01-02T03:04:06.000Z'],
    ['2020-01-18T00:15:52.837651+00:00', '2020-01-18T00:15:52.837Z'], // Python's rendering
    ['2026-06-01T02:00:00.5+02:00', '2026-06-01T00:00:00.500Z'],
    ['9999-12-31T23:59:59.9999999Z', '9999-12-31T23:59:59.999Z'],
  ])('%s', (wire, iso) => {
    expect(parseArmTime(wire)?.toISOString()).toBe(iso);
  });

  it.each([null, undefined, '', 'yesterday', 42])('%s is no time', (v) => {
    expect(parseArmTime(v)).toBeUndefined();
  });
});

describe('parseToken', () => {
  it('reads slots by name, and "never expires" in all three forms', () => {
    const t = parseToken({
      properties: {
        status: 'enabled',
        provisioningState: 'Succeeded',
        credentials: {
          certificates: [],
          passwords: [
            {
              name: 'password2',
              creationTime: '2026-01-02T00:00:00Z',
              expiry: '9999-12-31T23:59:59.9999999Z',
            },
            { name: 'password1', creationTime: '2026-01-01T00:00:00Z', expiry: null },
            { name: 'password3', creationTime: '2026-01-01T00:00:00Z' },
          ],
        },
      },
    });
    expect(t.status).toBe('enabled');
    expect(t.slots.map((s) => [s.name, s.createdAt?.toISOString(), s.expiresAt])).toEqual([
      ['password2', '2026-01-02T00:00:00.000Z', undefined],
      ['password1', '2026-01-01T00:00:00.000Z', undefined],
    ]);
  });

  it('a token without credentials has no slots (the spec examples leave them out)', () => {
    expect(parseToken({ properties: { status: 'disabled' } })).toEqual({
      status: 'disabled',
      provisioningState: 'unknown',
      slots: [],
    });
  });
});

describe('targetSlot', () => {
  it('with a credential in use: always the other slot, whatever their ages', () => {
    const t = token(slot('password1', '2026-01-01T00:00:00Z'), slot('password2', '2025-01-01T00:00:00Z'));
    expect(targetSlot(t, 'password1')).toBe('password2');
    expect(targetSlot(t, 'password2')).toBe('password1');
  });

  it.each([
    ['no slots', token(), 'password1'],
    ['only password1', token(slot('password1', '2026-01-01T00:00:00Z')), 'password2'],
    ['only password2', token(slot('password2', '2026-01-01T00:00:00Z')), 'password1'],
    [
      'both, password2 older',
      token(slot('password1', '2026-02-01T00:00:00Z'), slot('password2', '2026-01-01T00:00:00Z')),
      'password2',
    ],
    [
      'both, password1 older',
      token(slot('password1', '2026-01-01T00:00:00Z'), slot('password2', '2026-02-01T00:00:00Z')),
      'password1',
    ],
    [
      'both, password2 of unknown age',
      token(slot('password1', '2026-01-01T00:00:00Z'), slot('password2')),
      'password2',
    ],
  ] as const)('first issue (ARO-RP rule): %s → %s', (_name, t, want) => {
    expect(targetSlot(t, undefined)).toBe(want);
  });
});

describe('alreadyRevoked', () => {
  const ref = { id: 'password1', label: 'x', issuedAt: at('2026-01-01T00:00:00.123Z') };
  it('a removed slot is revoked', () => {
    expect(alreadyRevoked(token(slot('password2', '2026-01-01T00:00:00Z')), ref)).toBe(true);
  });
  it('the slot still holding that credential is not', () => {
    expect(alreadyRevoked(token(slot('password1', '2026-01-01T00:00:00.1239999Z')), ref)).toBe(false);
  });
  it('a slot regenerated since holds someone newer: leave it alone', () => {
    expect(alreadyRevoked(token(slot('password1', '2026-03-01T00:00:00Z')), ref)).toBe(true);
  });
});
