/**
 * The invariant prober: watches Secrets, ServiceAccounts and Pods on the API server, records every event,
 * and afterwards replays them in etcd revision order (one total order across the three streams) to check
 * I1 and I2 at every event. A watch the server ends is resumed from the last revision seen.
 */
import { Watch } from '@kubernetes/client-node';
import { kubeConfig } from '../helpers/stack.ts';

interface Ev {
  rv: number;
  kind: 'secret' | 'sa' | 'pod';
  type: string;
  ns: string;
  name: string;
  managed: boolean;
  pulls: string[];
  data: string;
  phase: string;
}

export interface ProbeReport {
  events: number;
  violations: string[];
}

interface Meta {
  namespace?: string;
  name?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
}

const STREAMS = [
  ['/api/v1/secrets', 'secret'],
  ['/api/v1/serviceaccounts', 'sa'],
  ['/api/v1/pods', 'pod'],
] as const;

export class InvariantProber {
  readonly #events: Ev[] = [];
  readonly #aborts: AbortController[] = [];
  readonly #inScope: (ns: string) => boolean;
  readonly #lastRv = new Map<string, string>();
  #stopped = false;
  restarts = 0;
  errors: string[] = [];

  constructor(inScope: (ns: string) => boolean) {
    this.#inScope = inScope;
  }

  async start(): Promise<void> {
    for (const [path, kind] of STREAMS) await this.#watch(path, kind);
  }

  async #watch(path: string, kind: Ev['kind']): Promise<void> {
    const rv = this.#lastRv.get(path);
    const on = (type: string, o: Record<string, unknown>) => {
      const md = (o['metadata'] ?? {}) as Meta;
      if (md.resourceVersion) this.#lastRv.set(path, md.resourceVersion);
      if (type === 'BOOKMARK' || type === 'ERROR' || !md.namespace || !this.#inScope(md.namespace)) return;
      const spec = (o['spec'] ?? {}) as { imagePullSecrets?: { name?: string }[] };
      const refs =
        kind === 'sa' ? (o['imagePullSecrets'] as { name?: string }[] | undefined) : spec.imagePullSecrets;
      this.#events.push({
        rv: Number(md.resourceVersion ?? 0),
        kind,
        type,
        ns: md.namespace,
        name: md.name ?? '',
        managed: md.labels?.['app.kubernetes.io/managed-by'] === 'regcred-rotator',
        pulls: (refs ?? []).map((r) => r.name ?? ''),
        data: JSON.stringify(o['data'] ?? {}),
        phase: ((o['status'] ?? {}) as { phase?: string }).phase ?? '',
      });
    };
    const done = (err: unknown) => {
      if (this.#stopped) return;
      // The client ends a quiet watch after a while; resuming from the last revision loses nothing.
      const quiet = err instanceof Error && /aborted due to timeout/.test(err.message);
      if (err && !quiet)
        this.errors.push(`${path}: ${err instanceof Error ? err.message : JSON.stringify(err)}`);
      this.restarts++;
      void this.#watch(path, kind);
    };
    const query = { allowWatchBookmarks: true, ...(rv ? { resourceVersion: rv } : {}) };
    this.#aborts.push(await new Watch(kubeConfig()).watch(path, query, on, done));
  }

  get recorded(): number {
    return this.#events.length;
  }

  /**
   * Stops watching and replays in revision order. I1: a ServiceAccount or pod that references a secret
   * the rotator manages (or managed) references at least one that exists. I2: foreign secrets keep their
   * data; from revision `sinceRv` on, `foreign(ns, sa)` gives a ServiceAccount's expected foreign entries.
   */
  check(foreign?: (ns: string, sa: string) => string[] | undefined, sinceRv = 0): ProbeReport {
    this.#stopped = true;
    for (const a of this.#aborts) a.abort();
    const evs = [...this.#events].sort((a, b) => a.rv - b.rv);
    const secrets = new Map<string, Ev>();
    const holders = new Map<string, Ev>();
    const everManaged = new Set<string>();
    const foreignData = new Map<string, string>();
    const violations: string[] = [];
    for (const e of evs) {
      const key = `${e.ns}/${e.name}`;
      if (e.kind === 'secret') {
        if (e.type === 'DELETED') secrets.delete(key);
        else secrets.set(key, e);
        if (e.managed) everManaged.add(key);
        else if (e.type !== 'DELETED') {
          const before = foreignData.get(key);
          if (before !== undefined && before !== e.data)
            violations.push(`I2: foreign secret ${key} changed at rv ${e.rv}`);
          foreignData.set(key, e.data);
        }
      } else {
        const hk = `${e.kind}:${key}`;
        const gone =
          e.type === 'DELETED' || (e.kind === 'pod' && (e.phase === 'Succeeded' || e.phase === 'Failed'));
        if (gone) holders.delete(hk);
        else holders.set(hk, e);
        const want = e.kind === 'sa' && !gone && e.rv >= sinceRv ? foreign?.(e.ns, e.name) : undefined;
        if (want !== undefined) {
          const got = e.pulls.filter((p) => !everManaged.has(`${e.ns}/${p}`) && !p.startsWith('regcred-'));
          if (want.join(',') !== got.join(','))
            violations.push(
              `I2: ${hk} foreign entries [${got.join(',')}], expected [${want.join(',')}] at rv ${e.rv}`,
            );
        }
      }
      for (const [hk, h] of holders) {
        if (h.ns !== e.ns) continue;
        const refs = h.pulls.filter((p) => everManaged.has(`${h.ns}/${p}`));
        if (refs.length > 0 && !refs.some((p) => secrets.has(`${h.ns}/${p}`))) {
          violations.push(
            `I1: ${hk} references only missing managed secrets [${refs.join(',')}] at rv ${e.rv}`,
          );
        }
      }
    }
    return { events: evs.length, violations: [...new Set(violations)] };
  }
}

/** The cluster's current revision: I2 expectations set up before it are checked from it on. */
export async function currentRevision(): Promise<number> {
  const { api } = await import('../helpers/stack.ts');
  return Number((await api().listNamespace({ limit: 1 })).metadata?.resourceVersion ?? 0);
}
