import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/base/logger.ts';
import { validateConfig } from '../../../src/config/load.ts';
import { openSource, type CredentialSource, type IssuingSide } from '../../../src/credentials/source.ts';
import type { RegistryCredential } from '../../../src/credentials/dockerconfig.ts';
import type { VerifyResult } from '../../../src/credentials/verify.ts';
import { TargetIssuance, type IssuanceChange, type IssuancePolicy } from '../../../src/issuance/lifecycle.ts';
import type { IssuerClass } from '../../../src/issuers/types.ts';
import { FakeIssuer, MemoryStore } from '../helpers/fake-issuance.ts';

const DAY = 86_400_000;
const MIN = 60_000;

function world(cls: IssuerClass, over: Partial<IssuancePolicy> = {}) {
  let t = new Date('2026-12-01T00:00:00Z').getTime();
  const clock = () => new Date(t);
  const store = new MemoryStore(clock);
  const issuer = new FakeIssuer(cls, clock);
  const config = validateConfig(
    {
      stores: { mem: { type: 'vault', address: 'https://vault.example' } },
      targets: [
        {
          name: 'app',
          store: 'mem',
          registry: 'r.example',
          credentials: { json: { key: 'app/pull' } },
          namespaces: { names: ['a'] },
        },
      ],
    },
    'test.yaml',
  );
  const target = config.targets[0];
  if (!target) throw new Error('no target');
  const source = openSource(target, store, issuer) as CredentialSource & { issuing: IssuingSide };
  const changes: IssuanceChange[] = [];
  let rejectFirst = 0;
  const verify = (c: RegistryCredential): Promise<VerifyResult> => {
    const ok = rejectFirst-- <= 0 && issuer.accepts(c.username, c.password.reveal());
    return Promise.resolve({
      registry: c.registry,
      outcome: ok ? 'accepted' : 'rejected',
      flow: 'basic',
      detail: '',
    });
  };
  const lifecycle = (o: { dryRun?: boolean; reissue?: boolean } = {}) =>
    new TargetIssuance(
      source,
      { rotateAfterDays: 60, orphanGraceMinutes: 15, inUse: undefined, verifyTimeoutSeconds: 1, ...over },
      {
        logger: silentLogger(),
        now: clock,
        dryRun: o.dryRun ?? false,
        reissue: o.reissue ?? false,
        verify,
        onChange: (c) => changes.push(c),
      },
    );
  const storedVersion = () => store.versions.get('app/pull')?.at(-1)?.version;
  /** Whether what the store holds now logs in at the registry. */
  const storedWorks = async () => {
    const r = await source.read();
    return r.creds.every((c) => issuer.accepts(c.username, c.password.reveal()));
  };
  return {
    store,
    issuer,
    changes,
    lifecycle,
    storedVersion,
    storedWorks,
    advance: (ms: number) => (t += ms),
    rejectVerifications: (n: number) => (rejectFirst = n),
  };
}

describe('the issuance lifecycle (many tokens)', () => {
  it('mints into an empty store, rotates when due, revokes the old token only after the new one is rolled out', async () => {
    const w = world('many-tokens');
    const first = await w.lifecycle().beforeRun();
    expect(first.issue).toMatchObject({ why: /no credential for this target yet/, done: true });
    expect(first.error).toBeUndefined();
    expect(w.storedVersion()).toBe('app/pull@1');
    expect(await w.storedWorks()).toBe(true);

    w.advance(30 * DAY);
    expect((await w.lifecycle().beforeRun()).issue).toBeUndefined();

    w.advance(31 * DAY);
    const l = w.lifecycle();
    const due = await l.beforeRun();
    expect(due.issue?.why).toMatch(/due: issued 61 days ago/);
    expect(w.storedVersion()).toBe('app/pull@2');
    expect(due.pending.map((p) => [p.ref.id, p.waitsFor])).toEqual([
      ['t1', 'the complete rollout of app/pull@2'],
    ]);
    // A rollout of the old version (a run that read the store before) revokes nothing.
    expect((await l.afterRollout('app/pull@1')).revoked).toEqual([]);
    expect(w.issuer.creds.has('t1')).toBe(true);
    const after = await l.afterRollout('app/pull@2');
    expect(after.revoked.map((r) => r.ref.id)).toEqual(['t1']);
    expect([...w.issuer.creds.keys()]).toEqual(['t2']);
    expect(await w.storedWorks()).toBe(true);
    expect(w.changes.map((c) => `${c.kind} ${'ref' in c ? c.ref.id : ''}`)).toEqual([
      'issued t1',
      'issued t2',
      'revoked t1',
    ]);
  });

  it('a dry run says what it would do and writes nothing', async () => {
    const w = world('many-tokens');
    const l = w.lifecycle({ dryRun: true });
    const r = await l.beforeRun();
    expect(r.issue).toMatchObject({ done: false, what: 'issue a new credential' });
    expect(w.issuer.calls).toEqual([]);
    expect(w.store.versions.size).toBe(0);
    // Nothing stored yet: the rotation has nothing to roll out (not a failure of the dry run).
    expect(l.firstPending).toBe(true);
    await w.lifecycle().beforeRun();
    const again = w.lifecycle({ dryRun: true, reissue: true });
    await again.beforeRun();
    expect(again.firstPending).toBe(false);
  });

  it('a token minted whose answer was lost is an orphan: revoked once older than the grace time or superseded', async () => {
    const w = world('many-tokens');
    await w.lifecycle().beforeRun(); // t1, stored
    w.advance(61 * DAY);
    w.issuer.failAfterMint = true;
    expect((await w.lifecycle({}).beforeRun()).error).toMatchObject({
      step: 'issue',
      code: 'ISSUER_UNAVAILABLE',
    });
    expect(w.storedVersion()).toBe('app/pull@1');
    // t2 exists at the registry, unknown to the store, newer than t1: maybe in flight, so left alone for now.
    const l = w.lifecycle({ reissue: false });
    w.advance(1 * MIN);
    const r = await l.beforeRun(); // due again: issues t3
    expect(r.issue?.done).toBe(true);
    const byId = Object.fromEntries(r.pending.map((p) => [p.ref.id, p.why]));
    expect(byId).toEqual({ t1: 'superseded by token t3', t2: 'superseded by token t3' });
    await l.afterRollout(w.storedVersion());
    expect([...w.issuer.creds.keys()]).toEqual(['t3']);
  });

  it('an orphan newer than the stored credential waits out the grace time before it is revoked', async () => {
    const w = world('many-tokens');
    await w.lifecycle().beforeRun(); // t1, stored
    w.advance(1 * MIN);
    w.issuer.failAfterMint = true;
    await w.lifecycle({ reissue: true }).beforeRun(); // t2 minted, never stored
    const l = w.lifecycle();
    const r = await l.beforeRun();
    expect(r.pending.map((p) => [p.ref.id, p.why])).toEqual([['t2', 'not stored (may be in flight)']]);
    expect((await l.afterRollout(w.storedVersion())).revoked).toEqual([]);
    w.advance(15 * MIN);
    const later = w.lifecycle();
    await later.beforeRun();
    expect((await later.afterRollout(w.storedVersion())).revoked.map((x) => [x.ref.id, x.why])).toEqual([
      ['t2', 'issued 15 min ago and never stored'],
    ]);
    expect([...w.issuer.creds.keys()]).toEqual(['t1']);
  });

  it('a store write that failed is taken back at the registry at once; one that landed with its answer lost is kept', async () => {
    const w = world('many-tokens');
    w.store.failNextPut = 'before';
    expect((await w.lifecycle().beforeRun()).error).toMatchObject({
      step: 'issue',
      code: 'STORE_UNAVAILABLE',
    });
    expect(w.issuer.calls).toEqual(['issue -', 'revoke t1']);
    expect(w.issuer.creds.size).toBe(0);

    w.store.failNextPut = 'applied';
    const r = await w.lifecycle().beforeRun();
    expect(r.error).toBeUndefined();
    expect(r.issue?.done).toBe(true);
    expect(w.issuer.creds.has('t2')).toBe(true);
    expect(await w.storedWorks()).toBe(true);
  });

  it('--reissue mints whatever the age; a registry slow to accept is waited for, within the bound', async () => {
    const w = world('many-tokens', { verifyTimeoutSeconds: 30 });
    await w.lifecycle().beforeRun();
    w.rejectVerifications(1);
    const r = await w.lifecycle({ reissue: true }).beforeRun();
    expect(r.issue).toMatchObject({ why: /--reissue/, done: true });
    expect(r.issue?.verifiedAfterMs).toBeGreaterThan(0);
    expect(r.error).toBeUndefined();
  });

  it('a registry that never accepts the fresh credential fails the target (stored, not rolled out by this run)', async () => {
    const w = world('many-tokens', { verifyTimeoutSeconds: 0 });
    w.rejectVerifications(100);
    const r = await w.lifecycle().beforeRun();
    expect(r.error).toMatchObject({ step: 'verify', code: 'REGISTRY_REJECTED' });
    expect(r.error?.message).toMatch(/it is stored, and is rolled out once the registry accepts it/);
  });

  it('the wait for a registry that keeps refusing ends at verifyTimeoutSeconds, not a back-off step later', async () => {
    const w = world('many-tokens', { verifyTimeoutSeconds: 1 });
    w.rejectVerifications(100);
    const started = Date.now();
    const r = await w.lifecycle().beforeRun();
    const took = Date.now() - started;
    expect(r.error).toMatchObject({ step: 'verify', code: 'REGISTRY_REJECTED' });
    // The first back-off step is 2 s: a wait that overshot the 1 s bound would take that long.
    expect(took).toBeGreaterThanOrEqual(1000);
    expect(took).toBeLessThan(1800);
  });
});

describe('the issuance lifecycle (a slot or an account in turn)', () => {
  it.each(['dual-slot', 'paired-accounts'] as const)(
    '%s: issues into the one not in use; the one in use keeps working until the rollout',
    async (cls) => {
      const w = world(cls);
      const [a, b] = cls === 'dual-slot' ? ['password1', 'password2'] : ['robot-a', 'robot-b'];
      await w.lifecycle().beforeRun();
      expect(w.issuer.calls).toEqual(['issue -']);
      w.advance(61 * DAY);
      const l = w.lifecycle();
      const r = await l.beforeRun();
      expect(w.issuer.calls).toEqual(['issue -', `issue ${a}`]);
      expect(r.inUse?.id).toBe(b);
      // Both work until the rollout is complete.
      expect(w.issuer.creds.get(a)?.state).toBe('active');
      await l.afterRollout(w.storedVersion());
      expect(w.issuer.calls.at(-1)).toBe(`revoke ${a}`);
      expect(await w.storedWorks()).toBe(true);
      // The next rotation goes back to the first one.
      w.advance(61 * DAY);
      await w.lifecycle().beforeRun();
      expect(w.issuer.calls.at(-1)).toBe(`issue ${b}`);
      expect(await w.storedWorks()).toBe(true);
    },
  );

  it('a credential stored by hand is not issued over until `issuer.inUse` names it', async () => {
    const w = world('dual-slot');
    await w.store.put(
      'app/pull',
      { fields: { username: 'password1', password: 's-password1-0' }, meta: {} },
      null,
    );
    const r = await w.lifecycle().beforeRun();
    expect(r.blocked).toMatch(/set `issuer.inUse`/);
    expect(w.issuer.calls).toEqual([]);
  });
});
