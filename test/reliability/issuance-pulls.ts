/**
 * The pulls of the issuance reliability files. The lab's namespaces may run pods on the node (IssuerLab
 * `onNode`), and each target's first namespace gets a pull workload (test/node/pull-workload.ts) pulling its
 * registry's private image with what the rotator put there: long-lived pods that restart and pull again
 * with the Secret names they were created with, and a stream of short-lived pods that take the
 * ServiceAccount's list of the moment. It runs from before the target's kill or fault until after the last
 * run, so a kill or fault that left a namespace pulling with a credential a later run revoked shows as a
 * failed pull. A control namespace pulls from all three registries with credentials the rotation revoked
 * (each class's first issued one): the detector must see its failures, at each registry.
 */
import { expect } from 'vitest';
import type { IssuerLab, Kind, LabTarget } from '../helpers/issuer-lab.ts';
import { NODE_SELECTOR, pullSecret } from '../helpers/node.ts';
import { api, sleep, waitFor } from '../helpers/stack.ts';
import { emptyReport, PullWorkload, pullsSince, reportLine, type PullReport } from '../node/pull-workload.ts';

/** As in zero-failed-pulls-issued.test.ts: the node needs a few seconds to see a refreshed Secret. */
const SETTLE = 5;
/**
 * A short-lived pod per namespace this often: the node shares two cores with the rotator runs whose timing the
 * test checks (orphans' grace times), and every pod start takes from them.
 */
const PER_NAMESPACE_MS = 60_000;

interface Batch {
  kind: Kind;
  namespaces: string[];
  workload: PullWorkload;
}

export class IssuancePulls {
  readonly #lab: IssuerLab;
  readonly #controlNs: string;
  readonly #batches: Batch[] = [];
  #control: PullWorkload | undefined;
  #started = 0;

  constructor(lab: IssuerLab) {
    this.#lab = lab;
    // Outside the prober's scope (`<prefix>-`): its ServiceAccount names no foreign entry the prober expects.
    this.#controlNs = `ctl-${lab.prefix}`;
  }

  /**
   * Starts pulling in the first namespace of each of `targets`, once they hold their second issued credential
   * (the first one revoked). The first call also starts the control, with the first credential of one target
   * per class, and from then on the lab's runs wait for the node (settle time).
   */
  async start(targets: LabTarget[]): Promise<void> {
    const first = this.#started === 0;
    if (first) {
      this.#lab.settleSeconds = SETTLE;
      this.#started = Date.now();
    }
    await Promise.all([
      first ? this.#startControl(targets) : undefined,
      ...[...new Set(targets.map((t) => t.kind))].map(async (kind) => {
        const ts = targets.filter((t) => t.kind === kind);
        const namespaces = ts.map((t) => t.namespaces[0] ?? '');
        const workload = new PullWorkload(namespaces, {
          intervalMs: Math.round(PER_NAMESPACE_MS / namespaces.length),
          images: [ts[0]?.image ?? ''],
        });
        this.#batches.push({ kind, namespaces, workload });
        await workload.addLongLived();
        workload.start();
      }),
    ]);
  }

  async #startControl(targets: LabTarget[]): Promise<void> {
    const firsts = [...new Set(targets.map((t) => t.kind))].map((k) => targets.find((t) => t.kind === k)!);
    const revoked: Record<string, { username: string; password: string }> = {};
    await Promise.all(
      firsts.map(async (t) => {
        const first = await t.storedValue(1);
        const c = { username: first?.['username'] ?? '', password: first?.['password'] ?? '' };
        expect(await t.works(c.username, c.password), `${t.kind}: the first credential is revoked`).toBe(
          false,
        );
        revoked[t.registry] = c;
      }),
    );
    await api().createNamespace({
      body: {
        metadata: {
          name: this.#controlNs,
          labels: { 'issuer-lab': this.#lab.prefix },
          annotations: NODE_SELECTOR,
        },
      },
    });
    await api()
      .createNamespacedServiceAccount({ namespace: this.#controlNs, body: { metadata: { name: 'default' } } })
      .catch((e: unknown) => {
        if ((e as { code?: number }).code !== 409) throw e;
      });
    await pullSecret(this.#controlNs, 'revoked', revoked);
    this.#control = new PullWorkload([this.#controlNs], {
      intervalMs: 20_000,
      pullSecrets: ['revoked'],
      images: firsts.map((t) => t.image),
    });
    await this.#control.addLongLived();
    this.#control.start();
  }

  /** One more long-lived pod per namespace, holding the Secret names of this moment (what a kill left). */
  async addLongLived(): Promise<void> {
    for (const b of this.#batches) await b.workload.addLongLived();
  }

  #kinds(): Map<Kind, Batch[]> {
    const m = new Map<Kind, Batch[]>();
    for (const b of this.#batches) m.set(b.kind, [...(m.get(b.kind) ?? []), b]);
    return m;
  }

  #workloads(): PullWorkload[] {
    return [...this.#batches.map((b) => b.workload), ...(this.#control ? [this.#control] : [])];
  }

  /**
   * After the last run (ended at `lastRun`): 3 s for a failure in flight to show, then on until every class
   * has pulled 3 times since `revokedAt` (the end of the clean run, which revoked what the kills or faults
   * superseded) and a long-lived pod created before it has pulled again after it — at most 30 s, and
   * usually no wait at all (the grace time's wait lies between). Then the reports and the bar: 0 failed pulls.
   */
  async finish(what: string, revokedAt: number, lastRun: number): Promise<void> {
    await sleep(Math.max(0, lastRun + 3000 - Date.now()));
    const kinds = this.#kinds();
    const tail = new Map<Kind, { pulls: number; longLived: number; last: number }>();
    const deadline = Date.now() + 27_000;
    for (const [kind, batches] of kinds) {
      const namespaces = batches.flatMap((b) => b.namespaces);
      // The long-lived pods' pulls first: the count of all, read after, includes them.
      const count = async () => {
        const longLived = await pullsSince(namespaces, revokedAt, /^ll-/);
        return {
          longLived,
          pulls: await pullsSince(namespaces, revokedAt),
          last: await pullsSince(namespaces, lastRun),
        };
      };
      const n = await waitFor(
        `pulls from ${kind} after the revoking run`,
        async () => {
          const c = await count();
          return c.pulls >= 3 && c.longLived >= 1 ? c : undefined;
        },
        Math.max(1000, deadline - Date.now()),
      ).catch(count);
      tail.set(kind, n);
    }
    for (const w of this.#workloads()) await w.stop();
    const reports = new Map<Kind, PullReport>();
    for (const [kind, batches] of kinds)
      reports.set(kind, merge(await Promise.all(batches.map((b) => b.workload.report()))));
    const ctl = await this.#control?.report();
    const seconds = Math.round((Date.now() - this.#started) / 1000);
    for (const [kind, x] of reports) {
      const t = tail.get(kind);
      console.log(
        `[reliability] ${what} pulls over ${seconds} s, ${reportLine(`${kind} (${kinds.get(kind)?.flatMap((b) => b.namespaces).length ?? 0} namespaces)`, x)}; ` +
          `after the revoking run: ${t?.pulls ?? 0} pulls (${t?.longLived ?? 0} by long-lived pods created before it), ${t?.last ?? 0} after the last run`,
      );
    }
    if (ctl)
      console.log(
        `[reliability] ${what} pulls, ${reportLine('control (revoked credentials)', ctl)}; by registry ${JSON.stringify(ctl.failuresByRegistry)}`,
      );

    for (const w of this.#workloads())
      expect(w.errors.filter((e) => !/AlreadyExists|NotFound|404/.test(e))).toEqual([]);
    // The detector sees failures where there are some, at each registry…
    expect(ctl?.podsEndedInPullBackOff, 'control').toBeGreaterThan(0);
    for (const [kind, batches] of kinds) {
      const registry = this.#lab.targets.find((t) => t.kind === kind)?.registry ?? '';
      expect(ctl?.failuresByRegistry[registry] ?? 0, `control: ${kind}`).toBeGreaterThan(0);
      const x = reports.get(kind)!;
      const namespaces = batches.flatMap((b) => b.namespaces).length;
      // …the workload was real (each namespace's two long-lived pods pulled), and it pulled after the
      // revocation with what the kills and faults left (Secret names held since before it, too)…
      expect(x.pulled, kind).toBeGreaterThanOrEqual(2 * namespaces);
      expect(tail.get(kind)?.pulls, kind).toBeGreaterThanOrEqual(3);
      expect(tail.get(kind)?.longLived, kind).toBeGreaterThanOrEqual(1);
      // …and the bar: 0 pull failures caused by the rotation; pods lost to the kubelet/node-authorizer race
      // apart, bounded as in zero-failed-pulls-issued.test.ts.
      expect(x.authorizerRace.pods.length, kind).toBeLessThanOrEqual(Math.max(2, Math.ceil(x.pods * 0.03)));
      expect(x.samples, kind).toEqual([]);
      expect(x.failureTotal, kind).toBe(0);
      expect(x.podsEndedInPullBackOff, kind).toBe(0);
      expect(x.podsNeverStarted, kind).toBeLessThanOrEqual(batches.length); // the last one, just created
    }
  }

  async cleanup(): Promise<void> {
    for (const w of this.#workloads()) await w.stop();
    await api()
      .deleteNamespace({ name: this.#controlNs })
      .catch(() => undefined);
  }
}

/** One class's reports (one per batch of namespaces) as one. */
function merge(rs: PullReport[]): PullReport {
  const sum = (a: Record<string, number>, b: Record<string, number>) => {
    for (const [k, v] of Object.entries(b)) a[k] = (a[k] ?? 0) + v;
    return a;
  };
  const out = emptyReport();
  for (const r of rs) {
    out.pods += r.pods;
    out.podsEndedInPullBackOff += r.podsEndedInPullBackOff;
    out.podsNeverStarted += r.podsNeverStarted;
    out.pulled += r.pulled;
    sum(out.failures, r.failures);
    out.failureTotal += r.failureTotal;
    sum(out.failuresByRegistry, r.failuresByRegistry);
    sum(out.otherWarnings, r.otherWarnings);
    out.samples.push(...r.samples);
    out.authorizerRace.pods.push(...r.authorizerRace.pods);
    out.authorizerRace.failures += r.authorizerRace.failures;
  }
  return out;
}
