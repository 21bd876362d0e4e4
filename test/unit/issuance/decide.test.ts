import { describe, expect, it } from 'vitest';
import { decideIssuance, type IssuanceFacts } from '../../../src/issuance/decide.ts';
import type { ManagedCredential } from '../../../src/issuers/types.ts';

const DAY = 86_400_000;
const MIN = 60_000;
const now = new Date('2026-12-07T12:00:00Z');
const ago = (ms: number) => new Date(now.getTime() - ms);
const cred = (
  id: string,
  issuedAgo: number,
  state: ManagedCredential['state'] = 'active',
): ManagedCredential => ({
  id,
  label: `token ${id}`,
  issuedAt: ago(issuedAgo),
  state,
});
const facts = (over: Partial<IssuanceFacts>): IssuanceFacts => ({
  now,
  stored: undefined,
  storeHasValue: true,
  atRegistry: [],
  rotateAfterMs: 60 * DAY,
  graceMs: 15 * MIN,
  reissue: false,
  issuerClass: 'many-tokens',
  adopt: undefined,
  ...over,
});

describe('decideIssuance: when to mint', () => {
  const a = cred('a', 10 * DAY);
  it.each([
    ['nothing stored yet', facts({ storeHasValue: false }), /no credential for this target yet/],
    ['young and present', facts({ stored: a, atRegistry: [a] }), undefined],
    [
      'due by age',
      facts({ stored: cred('a', 61 * DAY), atRegistry: [cred('a', 61 * DAY)] }),
      /due: issued 61 days ago \(rotate after 60 days\)/,
    ],
    ['--reissue', facts({ stored: a, atRegistry: [a], reissue: true }), /--reissue/],
    ['deleted at the registry', facts({ stored: a, atRegistry: [] }), /no longer exists at the registry/],
    [
      'disabled at the registry',
      facts({ stored: a, atRegistry: [cred('a', 10 * DAY, 'disabled')] }),
      /disabled at the registry/,
    ],
    [
      'regenerated at the registry since stored',
      facts({ stored: a, atRegistry: [cred('a', 1 * DAY)] }),
      /reissued at the registry/,
    ],
    [
      'registry time a few seconds off',
      facts({ stored: a, atRegistry: [{ ...a, issuedAt: new Date(a.issuedAt.getTime() + 2000) }] }),
      undefined,
    ],
    [
      'expires at the registry soon',
      facts({ stored: { ...a, expiresAt: new Date(now.getTime() + 3 * DAY) }, atRegistry: [a] }),
      /the registry expires it on 2026-12-10/,
    ],
  ])('%s', (_name, f, want) => {
    const d = decideIssuance(f);
    if (want === undefined) expect(d.issue).toBeUndefined();
    else expect(d.issue).toMatch(want);
    expect(d.blocked).toBeUndefined();
  });

  it('a credential stored by a person: many tokens → a new one of ours; a slot or account in turn → blocked until named', () => {
    const other = cred('password1', 30 * DAY);
    expect(decideIssuance(facts({ atRegistry: [other] }))).toMatchObject({
      issue: /did not record/,
      blocked: undefined,
      revoke: [],
    });
    const slots = facts({ issuerClass: 'dual-slot', atRegistry: [other, cred('password2', 40 * DAY)] });
    expect(decideIssuance(slots).blocked).toMatch(/set `issuer.inUse`/);
    expect(decideIssuance({ ...slots, adopt: 'password3' }).blocked).toMatch(
      /"password3" is not one of .*password1, password2/,
    );
    // Named: treated as stored (its age counts), and nothing is revoked before our own first issue.
    const adopted = decideIssuance({ ...slots, adopt: 'password1', rotateAfterMs: 20 * DAY });
    expect(adopted).toMatchObject({ blocked: undefined, revoke: [], waiting: [] });
    expect(adopted.issue).toMatch(/due: issued 30 days ago/);
  });
});

describe('decideIssuance: what may be revoked once the stored credential is rolled out', () => {
  it('older credentials of ours are superseded; disabled ones are already revoked', () => {
    const cur = cred('c', 1 * DAY);
    const d = decideIssuance(
      facts({ stored: cur, atRegistry: [cred('a', 90 * DAY), cred('b', 30 * DAY, 'disabled'), cur] }),
    );
    expect(d.revoke.map((r) => [r.ref.id, r.why])).toEqual([['a', 'superseded by token c']]);
    expect(d.waiting).toEqual([]);
  });

  it('a newer one not stored is left alone within the grace time (maybe in flight), an orphan after it', () => {
    const cur = cred('c', 1 * DAY);
    const young = cred('n', 5 * MIN);
    const old = cred('o', 20 * MIN);
    const d = decideIssuance(facts({ stored: cur, atRegistry: [cur, young, old] }));
    expect(d.revoke.map((r) => [r.ref.id, r.why])).toEqual([['o', 'issued 20 min ago and never stored']]);
    expect(d.waiting).toEqual([{ ref: young, until: new Date(young.issuedAt.getTime() + 15 * MIN) }]);
  });

  it('with an empty store (a first issue that crashed before storing) only orphans past the grace time go', () => {
    const d = decideIssuance(
      facts({ storeHasValue: false, atRegistry: [cred('o', 30 * MIN), cred('n', 1 * MIN)] }),
    );
    expect(d.revoke.map((r) => r.ref.id)).toEqual(['o']);
    expect(d.waiting.map((w) => w.ref.id)).toEqual(['n']);
  });

  it('while the store holds a credential the issuer did not record, nothing is revoked', () => {
    expect(decideIssuance(facts({ atRegistry: [cred('a', 90 * DAY)] })).revoke).toEqual([]);
  });
});
