import { span } from '../base/span.ts';

/** One cluster's record in a target's fleet ledger. */
export interface ClusterRecord {
  cluster: string;
  registeredAt: Date;
  /** The credential version (the store's non-secret version) this cluster last rolled out completely. */
  revision: string | undefined;
  ackedAt: Date | undefined;
  /** `fleet forget`: a cluster that is gone no longer holds revocation back. */
  forgotten: boolean;
}

export interface ClusterState {
  cluster: string;
  revision: string | undefined;
  ackedAt: Date | undefined;
  /** `acked`: on the stored version; `behind`: not yet, within the deadline; `late`: past it. */
  state: 'acked' | 'behind' | 'late' | 'forgotten';
  /** How long it has been behind (since the stored version was written), when it is. */
  behindMs: number | undefined;
}

export interface GateInput {
  records: readonly ClusterRecord[];
  /** The version the store holds now. */
  revision: string;
  /** When that version was written: a cluster behind it is behind since then (or since it registered, if later). */
  since: Date;
  now: Date;
  deadlineMs: number;
  /** `--force`: clusters named here do not hold revocation back (each must be named). */
  force: readonly string[];
}

export interface GateResult {
  /** Every registered cluster (not forgotten, not forced) has rolled out `revision`. */
  open: boolean;
  clusters: ClusterState[];
  /** What it waits for, in one line naming the clusters ("1 of 3 clusters to roll out …: c"); undefined when open. */
  blockedBy: string | undefined;
}

/**
 * Whether the old credential may be revoked as far as the fleet goes: every cluster that registered has
 * acknowledged the stored version (written only after its own complete rollout). Pure.
 */
export function fleetGate(g: GateInput): GateResult {
  const since = g.since.getTime();
  const clusters = [...g.records]
    .sort((a, b) => (a.cluster < b.cluster ? -1 : 1))
    .map((r): ClusterState => {
      const base = { cluster: r.cluster, revision: r.revision, ackedAt: r.ackedAt };
      if (r.forgotten) return { ...base, state: 'forgotten', behindMs: undefined };
      if (r.revision === g.revision) return { ...base, state: 'acked', behindMs: undefined };
      const behindFor = g.now.getTime() - Math.max(since, r.registeredAt.getTime());
      return {
        ...base,
        state: behindFor > g.deadlineMs ? 'late' : 'behind',
        behindMs: Math.max(0, behindFor),
      };
    });
  const holding = clusters.filter(
    (c) => (c.state === 'behind' || c.state === 'late') && !g.force.includes(c.cluster),
  );
  if (holding.length === 0) return { open: true, clusters, blockedBy: undefined };
  const names = holding.map(
    (c) =>
      `${c.cluster}${c.state === 'late' ? ` (late: ${span(c.behindMs ?? 0)}, deadline ${span(g.deadlineMs)})` : ''}`,
  );
  const forced = clusters
    .filter((c) => (c.state === 'behind' || c.state === 'late') && g.force.includes(c.cluster))
    .map((c) => c.cluster);
  const active = clusters.filter((c) => c.state !== 'forgotten').length;
  return {
    open: false,
    clusters,
    blockedBy: `${holding.length} of ${active} clusters to roll out ${g.revision}: ${names.join(', ')}${forced.length > 0 ? `; not waited for (--force): ${forced.join(', ')}` : ''}`,
  };
}
