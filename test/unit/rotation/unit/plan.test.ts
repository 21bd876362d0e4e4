import { describe, expect, it } from 'vitest';
import { plan } from '../../../../src/rotation/unit/plan.ts';
import type { Action } from '../../../../src/rotation/unit/types.ts';
import { b64, desired, HOUR, NOW, pod, retention, sa, secret, state } from '../../helpers/builders.ts';

const NEW_DATA = desired().dataB64.reveal();
const kinds = (as: Action[]) =>
  as.map((a) =>
    a.kind === 'repoint'
      ? `repoint ${a.serviceAccount} -> ${a.to.join(',')}`
      : `${a.kind}${'name' in a ? ` ${a.name}` : ''}`,
  );

describe('plan (swap strategy)', () => {
  const cases: {
    name: string;
    d?: Parameters<typeof desired>[0];
    r?: Parameters<typeof retention>[0];
    st: ReturnType<typeof state>;
    want: string[];
    kept?: string[];
    notes?: RegExp;
    needs?: 'pods';
  }[] = [
    {
      name: 'first provisioning: create, then append to the SA',
      st: state([], [sa('default', [])]),
      want: ['create regcred-new', 'repoint default -> regcred-new'],
    },
    {
      name: 'first provisioning keeps foreign entries in order and appends ours',
      st: state([], [sa('default', ['foreign-a', 'foreign-b'])]),
      want: ['create regcred-new', 'repoint default -> foreign-a,foreign-b,regcred-new'],
    },
    {
      name: 'no-op: secret current, SA points at it',
      st: state(
        [secret('regcred-new', { data: NEW_DATA, rotatedAt: NOW })],
        [sa('default', ['foreign', 'regcred-new'])],
      ),
      want: [],
    },
    {
      name: 'rotation: create new; the old name is replaced in place, foreign entries around it untouched',
      st: state(
        [secret('regcred-old', { rotatedAt: new Date(NOW.getTime() - 48 * HOUR) })],
        [sa('default', ['foreign-a', 'regcred-old', 'foreign-b'])],
      ),
      want: ['create regcred-new', 'repoint default -> foreign-a,regcred-new,foreign-b'],
    },
    {
      name: 'superseded secret referenced by an SA is kept (and refreshed)',
      st: state(
        [secret('regcred-new', { data: NEW_DATA, rotatedAt: NOW }), secret('regcred-old')],
        [sa('default', ['regcred-new']), sa('other', ['regcred-old'])],
      ),
      want: ['update-data regcred-old'],
      kept: ['regcred-old: referenced by serviceaccount other'],
    },
    {
      name: 'superseded secret within retention is kept (and refreshed)',
      st: state(
        [
          secret('regcred-new', { data: NEW_DATA, rotatedAt: new Date(NOW.getTime() - HOUR) }),
          secret('regcred-old'),
        ],
        [sa('default', ['regcred-new'])],
      ),
      want: ['update-data regcred-old'],
      kept: ['regcred-old: retained until 2026-11-30T11:00:00.000Z'],
    },
    {
      name: 'past retention, pods not read yet: the plan needs the pods (no settle time: no refresh yet)',
      st: state(
        [
          secret('regcred-new', { data: NEW_DATA, rotatedAt: new Date(NOW.getTime() - 25 * HOUR) }),
          secret('regcred-old'),
        ],
        [sa('default', ['regcred-new'])],
      ),
      want: [],
      needs: 'pods',
    },
    {
      name: 'past retention, pods not read yet, a settle time: needs the pods, refreshes the old one meanwhile',
      r: { settleMs: 5000 },
      st: state(
        [
          secret('regcred-new', { data: NEW_DATA, rotatedAt: new Date(NOW.getTime() - 25 * HOUR) }),
          secret('regcred-old'),
        ],
        [sa('default', ['regcred-new'])],
      ),
      want: ['update-data regcred-old'],
      needs: 'pods',
    },
    {
      name: 'past retention, pods not read yet, a settle time, old data already fresh: needs the pods, no write',
      r: { settleMs: 5000 },
      st: state(
        [
          secret('regcred-new', { data: NEW_DATA, rotatedAt: new Date(NOW.getTime() - 25 * HOUR) }),
          secret('regcred-old', { data: NEW_DATA }),
        ],
        [sa('default', ['regcred-new'])],
      ),
      want: [],
      needs: 'pods',
    },
    {
      name: 'past retention, a live pod still references it: kept',
      st: state(
        [
          secret('regcred-new', { data: NEW_DATA, rotatedAt: new Date(NOW.getTime() - 25 * HOUR) }),
          secret('regcred-old', { data: NEW_DATA }),
        ],
        [sa('default', ['regcred-new'])],
        [pod('web-1', ['regcred-old'])],
      ),
      want: [],
      kept: ['regcred-old: 1 live pod still references it (web-1)'],
    },
    {
      name: 'past retention, only finished pods reference it: deleted',
      st: state(
        [
          secret('regcred-new', { data: NEW_DATA, rotatedAt: new Date(NOW.getTime() - 25 * HOUR) }),
          secret('regcred-old'),
        ],
        [sa('default', ['regcred-new'])],
        [pod('job-1', ['regcred-old'], 'Succeeded'), pod('web-2', ['regcred-new'])],
      ),
      want: ['delete regcred-old'],
    },
    {
      name: 'waitForPods: false deletes past retention without reading pods',
      r: { waitForPods: false },
      st: state(
        [
          secret('regcred-new', { data: NEW_DATA, rotatedAt: new Date(NOW.getTime() - 25 * HOUR) }),
          secret('regcred-old'),
        ],
        [sa('default', ['regcred-new'])],
      ),
      want: ['delete regcred-old'],
    },
    {
      name: 'refreshSuperseded: false leaves old data alone',
      r: { refreshSuperseded: false },
      st: state(
        [secret('regcred-new', { data: NEW_DATA, rotatedAt: NOW }), secret('regcred-old')],
        [sa('default', ['regcred-new'])],
      ),
      want: [],
      kept: ['regcred-old: retained until 2026-11-30T12:00:00.000Z'],
    },
    {
      name: 'nothing superseded is touched before the new secret exists',
      st: state([secret('regcred-old', { rotatedAt: new Date(0) })], [sa('default', ['regcred-old'])], []),
      want: ['create regcred-new', 'repoint default -> regcred-new'],
    },
    {
      name: 'drifted data of the current secret is repaired before anything else',
      st: state(
        [secret('regcred-new', { data: b64('tampered'), rotatedAt: NOW })],
        [sa('default', ['regcred-new'])],
      ),
      want: ['update-data regcred-new'],
    },
    {
      name: 'other targets’ secrets and unmanaged secrets are not ours: never repointed or deleted',
      st: state(
        [
          secret('regcred-new', { data: NEW_DATA, rotatedAt: new Date(0) }),
          secret('other-target-x', { target: 'ghcr' }),
        ],
        [sa('default', ['other-target-x', 'regcred-new', 'regcred'])],
        [],
      ),
      want: [],
    },
    {
      name: 'only selected ServiceAccounts are repointed; a missing one is a note',
      d: { serviceAccounts: ['default', 'builder'] },
      st: state([], [sa('default', []), sa('unrelated', ['x'])]),
      want: ['create regcred-new', 'repoint default -> regcred-new'],
      notes: /serviceaccount builder not found/,
    },
    {
      name: '"*" selects every ServiceAccount',
      d: { serviceAccounts: '*' },
      st: state([], [sa('default', []), sa('builder', ['x'])]),
      want: ['create regcred-new', 'repoint builder -> x,regcred-new', 'repoint default -> regcred-new'],
    },
    {
      name: 'duplicate references to our secrets collapse to one',
      st: state(
        [secret('regcred-new', { data: NEW_DATA, rotatedAt: NOW }), secret('regcred-old')],
        [sa('default', ['regcred-old', 'f', 'regcred-new', 'regcred-old'])],
      ),
      want: ['repoint default -> regcred-new,f', 'update-data regcred-old'],
      kept: ['regcred-old: referenced by serviceaccount default'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const p = plan(desired(c.d), retention(c.r), c.st, NOW);
      expect(p.blocked).toBeUndefined();
      expect(kinds(p.actions)).toEqual(c.want);
      expect(p.kept.map((k) => `${k.name}: ${k.reason}`)).toEqual(c.kept ?? []);
      expect(p.needs).toBe(c.needs);
      if (c.notes) expect(p.notes.join('\n')).toMatch(c.notes);
    });
  }
});

describe('plan (in-place strategy)', () => {
  const d = desired({ strategy: 'in-place', name: 'regcred' });
  it('creates the stable name and appends it', () => {
    expect(kinds(plan(d, retention(), state([], [sa('default', ['f'])]), NOW).actions)).toEqual([
      'create regcred',
      'repoint default -> f,regcred',
    ]);
  });
  it('updates data in place when the source changed, without touching the SA', () => {
    const p = plan(
      d,
      retention(),
      state([secret('regcred', { rotatedAt: NOW })], [sa('default', ['regcred'])]),
      NOW,
    );
    expect(p.actions).toEqual([
      { kind: 'update-data', name: 'regcred', resourceVersion: 'rv-regcred', why: 'in-place' },
    ]);
  });
  it('takes over from swap-era secrets: repoints to the stable name', () => {
    const p = plan(
      d,
      retention(),
      state(
        [secret('regcred', { data: d.dataB64.reveal(), rotatedAt: NOW }), secret('regcred-1a2b')],
        [sa('default', ['regcred-1a2b'])],
      ),
      NOW,
    );
    expect(kinds(p.actions)).toEqual(['repoint default -> regcred', 'update-data regcred-1a2b']);
  });
});

describe('plan refuses what it does not own', () => {
  it('a secret of our name that belongs to another target blocks', () => {
    const p = plan(
      desired(),
      retention(),
      state([secret('regcred-new', { target: 'ghcr' })], [sa('default', [])]),
      NOW,
    );
    expect(p.blocked).toMatch(/belongs to target "ghcr"/);
    expect(p.actions).toEqual([]);
  });
  it('a secret of the wrong type blocks (type is immutable)', () => {
    const p = plan(
      desired(),
      retention(),
      state([secret('regcred-new', { type: 'Opaque' })], [sa('default', [])]),
      NOW,
    );
    expect(p.blocked).toMatch(/type Opaque/);
  });
  it('an immutable secret with other data blocks', () => {
    const p = plan(
      desired(),
      retention(),
      state([secret('regcred-new', { immutable: true })], [sa('default', [])]),
      NOW,
    );
    expect(p.blocked).toMatch(/immutable/);
  });
});

describe('plan: what a finished rollout needs to know', () => {
  const at = (ms: number) => new Date(NOW.getTime() - ms);
  /** A Secret created at `created` whose data was last written at `written`. */
  const written = (name: string, created: Date, w: Date, data?: string) => ({
    ...secret(name, { rotatedAt: w, ...(data === undefined ? {} : { data }) }),
    createdAt: created,
  });

  it('a kept superseded secret says whether it holds the desired data; its refresh time counts', () => {
    const refreshed = written('regcred-old', at(2 * HOUR), at(HOUR), NEW_DATA);
    const p = plan(
      desired(),
      retention(),
      state(
        [written('regcred-new', at(HOUR), at(HOUR), NEW_DATA), refreshed],
        [sa('default', ['regcred-new'])],
      ),
      NOW,
    );
    expect(p.actions).toEqual([]);
    expect(p.kept).toEqual([
      { name: 'regcred-old', reason: expect.stringMatching(/^retained until/), current: true },
    ]);
    expect(p.dataChangedAt).toBe(at(HOUR).getTime());
  });

  it('one kept with the old data (no refresh) is not current, and its time does not count', () => {
    const p = plan(
      desired(),
      retention({ refreshSuperseded: false }),
      state(
        [
          written('regcred-new', at(HOUR), at(HOUR), NEW_DATA),
          written('regcred-old', at(2 * HOUR), at(2 * HOUR)),
        ],
        [sa('default', ['regcred-new'])],
      ),
      NOW,
    );
    expect(p.kept.map((k) => k.current)).toEqual([false]);
    expect(p.dataChangedAt).toBeUndefined();
  });

  it('in place: an update after the creation counts, the creation alone does not', () => {
    const d = desired({ strategy: 'in-place', name: 'regcred' });
    const data = d.dataB64.reveal();
    const updated = plan(
      d,
      retention(),
      state([written('regcred', at(HOUR), at(60_000), data)], [sa('default', ['regcred'])]),
      NOW,
    );
    expect(updated.dataChangedAt).toBe(at(60_000).getTime());
    const created = plan(
      d,
      retention(),
      state([written('regcred', at(HOUR), at(HOUR), data)], [sa('default', ['regcred'])]),
      NOW,
    );
    expect(created.dataChangedAt).toBeUndefined();
  });
});

describe('plan: an earlier name of ours that a live pod lists and that is missing is created again', () => {
  // Realistic names: a revision id is 10 hex digits (naming.ts, isNameOf).
  const d = desired({ name: 'regcred-00000000aa', revisionId: '00000000aa' });
  const data = d.dataB64.reveal();
  const current = () => secret('regcred-00000000aa', { data, rotatedAt: NOW });
  const EARLIER = 'regcred-00000000bb';

  it('with the pods observed: created with the desired data (before any repoint), then kept while the pod lists it', () => {
    const st = state([current()], [sa('default', ['regcred-00000000aa'])], [pod('web-1', [EARLIER])]);
    const p = plan(d, retention(), st, NOW);
    expect(kinds(p.actions)).toEqual([`create ${EARLIER}`]);
    expect(p.actions[0]).toMatchObject({ forPod: 'web-1' });
    // The next round: it exists (the engine adds what it created) and is an ordinary superseded secret.
    st.secrets.set(EARLIER, secret(EARLIER, { data, rotatedAt: NOW }));
    const next = plan(d, retention({ retainSupersededMs: 0 }), st, NOW);
    expect(kinds(next.actions)).toEqual([]);
    expect(next.kept).toEqual([
      {
        name: EARLIER,
        reason: expect.stringMatching(/1 live pod still references it \(web-1\)/),
        current: true,
      },
    ]);
  });

  it('from the pods read at the start (the scheduler reacting to a pod), which never decide a deletion', () => {
    const st = state([current(), secret('regcred-00000000cc')], [sa('default', ['regcred-00000000aa'])]);
    st.podsAtStart = [pod('web-1', [EARLIER])];
    const p = plan(d, retention({ retainSupersededMs: 0 }), st, NOW);
    // regcred-00000000cc, which no pod read at the start lists, still waits for the pods read after settling.
    expect(kinds(p.actions)).toEqual([`create ${EARLIER}`]);
    expect(p.needs).toBe('pods');
  });

  it('not without pods, not for a finished pod, the desired name, a name that is not ours or one that exists', () => {
    const sas = [sa('default', ['regcred-00000000aa'])];
    expect(kinds(plan(d, retention(), state([current()], sas), NOW).actions)).toEqual([]);
    const pods = [
      pod('done', [EARLIER], 'Succeeded'),
      pod('failed', [EARLIER], 'Failed'),
      pod('current', ['regcred-00000000aa']),
      pod('foreign', ['regcred-other', 'regcred-00000000b', 'other-00000000bb']),
      pod('kept', ['regcred-00000000cc']),
    ];
    const st = state([current(), secret('regcred-00000000cc', { data })], sas, pods);
    expect(kinds(plan(d, retention(), st, NOW).actions)).toEqual([]);
  });

  it('each missing name once, in name order, whatever the number of pods listing it', () => {
    const other = 'regcred-00000000ab';
    const st = state(
      [current()],
      [sa('default', ['regcred-00000000aa'])],
      [pod('a', [EARLIER]), pod('b', [EARLIER, other]), pod('c', [other])],
    );
    expect(kinds(plan(d, retention(), st, NOW).actions)).toEqual([`create ${other}`, `create ${EARLIER}`]);
  });

  it("one held by someone else's Secret (found on the create) is left alone, with a note", () => {
    const st = state([current()], [sa('default', ['regcred-00000000aa'])], [pod('web-1', [EARLIER])]);
    st.foreign = new Set([EARLIER]);
    const p = plan(d, retention(), st, NOW);
    expect(kinds(p.actions)).toEqual([]);
    expect(p.notes).toEqual([`pod web-1 lists secret ${EARLIER}, which is not ours; left alone`]);
  });

  it('in place: a swap-era name a pod lists is created again too', () => {
    const inPlace = desired({ strategy: 'in-place', name: 'regcred', revisionId: '00000000aa' });
    const st = state(
      [secret('regcred', { data: inPlace.dataB64.reveal(), rotatedAt: NOW })],
      [sa('default', ['regcred'])],
      [pod('web-1', [EARLIER])],
    );
    expect(kinds(plan(inPlace, retention(), st, NOW).actions)).toEqual([`create ${EARLIER}`]);
  });
});
