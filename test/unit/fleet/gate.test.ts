import { describe, expect, it } from 'vitest';
import { fleetGate, type ClusterRecord } from '../../../src/fleet/gate.ts';

const H = 3_600_000;
const now = new Date('2026-12-07T12:00:00Z');
const rec = (
  cluster: string,
  revision: string | undefined,
  forgotten = false,
  registeredAt = new Date('2026-12-01T00:00:00Z'),
): ClusterRecord => ({
  cluster,
  registeredAt,
  revision,
  ackedAt: revision ? now : undefined,
  forgotten,
});
const gate = (records: ClusterRecord[], over: { sinceHoursAgo?: number; force?: string[] } = {}) =>
  fleetGate({
    records,
    revision: 'kv/app@7',
    since: new Date(now.getTime() - (over.sinceHoursAgo ?? 1) * H),
    now,
    deadlineMs: 24 * H,
    force: over.force ?? [],
  });

describe('fleetGate', () => {
  it('opens when every registered cluster has rolled out the stored version', () => {
    const g = gate([rec('a', 'kv/app@7'), rec('b', 'kv/app@7')]);
    expect(g).toMatchObject({ open: true, blockedBy: undefined });
    expect(g.clusters.map((c) => c.state)).toEqual(['acked', 'acked']);
  });

  it('stays closed while one is behind, naming it; past the deadline it is late, with how long', () => {
    const within = gate([rec('a', 'kv/app@7'), rec('c', 'kv/app@6'), rec('b', undefined)]);
    expect(within.open).toBe(false);
    expect(within.blockedBy).toBe('2 of 3 clusters to roll out kv/app@7: b, c');
    const late = gate([rec('a', 'kv/app@7'), rec('c', 'kv/app@6')], { sinceHoursAgo: 26 });
    expect(late.blockedBy).toBe('1 of 2 clusters to roll out kv/app@7: c (late: 26 h, deadline 24 h)');
    expect(late.clusters.find((c) => c.cluster === 'c')).toMatchObject({ state: 'late', behindMs: 26 * H });
  });

  it('a cluster that registered after the version was stored is behind only since it registered', () => {
    const joined = new Date(now.getTime() - 2 * H);
    const g = gate([rec('a', 'kv/app@7'), rec('new', undefined, false, joined)], { sinceHoursAgo: 30 });
    expect(g.clusters.find((c) => c.cluster === 'new')).toMatchObject({ state: 'behind', behindMs: 2 * H });
    expect(g.blockedBy).toBe('1 of 2 clusters to roll out kv/app@7: new');
  });

  it('a forgotten cluster does not hold it; --force opens it only for the clusters it names', () => {
    expect(gate([rec('a', 'kv/app@7'), rec('gone', 'kv/app@2', true)]).open).toBe(true);
    const records = [rec('a', 'kv/app@7'), rec('b', 'kv/app@6'), rec('c', 'kv/app@6')];
    expect(gate(records, { force: ['b'] })).toMatchObject({
      open: false,
      blockedBy: '1 of 3 clusters to roll out kv/app@7: c; not waited for (--force): b',
    });
    expect(gate(records, { force: ['b', 'c'] }).open).toBe(true);
  });
});
