import { isRotatorError, RotatorError } from '../errors.ts';
import { META_PREFIX, type SecretStore, type StoreEntry } from '../providers/types.ts';
import type { ClusterRecord } from './gate.ts';

const M = {
  cluster: `${META_PREFIX}cluster`,
  registeredAt: `${META_PREFIX}registered-at`,
  revision: `${META_PREFIX}acked-revision`,
  ackedAt: `${META_PREFIX}acked-at`,
  state: `${META_PREFIX}state`,
} as const;

/** A cluster id usable as a record name in every store (Key Vault names: letters, digits, "-"). */
export const CLUSTER_ID = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

const date = (s: string | undefined): Date | undefined =>
  s === undefined || Number.isNaN(Date.parse(s)) ? undefined : new Date(s);

function recordOf(e: StoreEntry): ClusterRecord | undefined {
  const cluster = e.meta[M.cluster];
  const registeredAt = date(e.meta[M.registeredAt]);
  if (cluster === undefined || registeredAt === undefined) return undefined;
  return {
    cluster,
    registeredAt,
    revision: e.meta[M.revision] || undefined,
    ackedAt: date(e.meta[M.ackedAt]),
    forgotten: e.meta[M.state] === 'forgotten',
  };
}

/**
 * A target's fleet ledger in the secret manager the clusters already share: one record per cluster, written
 * only by that cluster (registration, then an acknowledgement after each complete rollout) or by `fleet
 * forget`. Each writer owns its record, so concurrent rotators never write the same key and no
 * acknowledgement can be lost to another's write; a record is still written with check-and-set on the
 * version read, so two runs of one cluster cannot overwrite each other either. Reading the fleet is one
 * listing of the records.
 */
export class FleetLedger {
  readonly #store: SecretStore;
  readonly #parent: string;

  constructor(store: SecretStore, parent: string) {
    if (!store.put || !store.listChildren || !store.childKey)
      throw new RotatorError(
        'STORE_READ_ONLY',
        `store "${store.name}" (${store.type}) cannot hold a fleet ledger; use a vault or azure-key-vault store`,
      );
    this.#store = store;
    this.#parent = parent;
  }

  get where(): string {
    return `store "${this.#store.name}" ${this.#parent}`;
  }

  async read(): Promise<ClusterRecord[]> {
    const entries = await (this.#store.listChildren as NonNullable<SecretStore['listChildren']>)(
      this.#parent,
    );
    return entries.flatMap((e) => recordOf(e) ?? []);
  }

  /**
   * Registers the cluster (once; a forgotten cluster that runs again is registered anew). `beforeWrite` is
   * awaited only when there is something to write (the run lock: a run with nothing to do takes none).
   */
  register(cluster: string, now: Date, beforeWrite?: () => Promise<void>): Promise<ClusterRecord> {
    return this.#update(cluster, beforeWrite, (r) =>
      r && !r.forgotten
        ? undefined
        : { cluster, registeredAt: now, revision: undefined, ackedAt: undefined, forgotten: false },
    );
  }

  /** Records that the cluster has rolled out `revision` completely (the engine's "rollout complete"). */
  ack(
    cluster: string,
    revision: string,
    now: Date,
    beforeWrite?: () => Promise<void>,
  ): Promise<ClusterRecord> {
    return this.#update(cluster, beforeWrite, (r) =>
      r && !r.forgotten && r.revision === revision
        ? undefined
        : {
            cluster,
            registeredAt: r && !r.forgotten ? r.registeredAt : now,
            revision,
            ackedAt: now,
            forgotten: false,
          },
    );
  }

  /** `fleet forget`: a cluster that is gone stops holding revocation back (its record stays, marked). */
  forget(cluster: string): Promise<ClusterRecord> {
    return this.#update(cluster, undefined, (r) => {
      if (!r) throw new RotatorError('USAGE', `${this.where}: no cluster "${cluster}" is registered`);
      return r.forgotten ? undefined : { ...r, forgotten: true };
    });
  }

  /** Read-modify-write of one record with check-and-set; `change` returns undefined for "nothing to write". */
  async #update(
    cluster: string,
    beforeWrite: (() => Promise<void>) | undefined,
    change: (r: ClusterRecord | undefined) => ClusterRecord | undefined,
  ): Promise<ClusterRecord> {
    const s = this.#store;
    const key = (s.childKey as NonNullable<SecretStore['childKey']>)(this.#parent, cluster);
    for (let attempt = 1; ; attempt++) {
      const current = await s.get(key).then(
        (v) => ({
          revision: v.revision,
          record: recordOf({ key, name: cluster, revision: v.revision, meta: v.meta ?? {} }),
        }),
        (e: unknown) => {
          if (isRotatorError(e, 'STORE_NOT_FOUND')) return { revision: null, record: undefined };
          throw e;
        },
      );
      const next = change(current.record);
      if (!next) return current.record as ClusterRecord;
      await beforeWrite?.();
      try {
        await (s.put as NonNullable<SecretStore['put']>)(
          key,
          {
            fields: {},
            meta: {
              [M.cluster]: next.cluster,
              [M.registeredAt]: next.registeredAt.toISOString(),
              [M.revision]: next.revision ?? '',
              [M.ackedAt]: next.ackedAt?.toISOString() ?? '',
              [M.state]: next.forgotten ? 'forgotten' : 'active',
            },
          },
          current.revision,
        );
        return next;
      } catch (e) {
        if (!isRotatorError(e, 'STORE_CONFLICT') || attempt >= 3) throw e;
      }
    }
  }
}
