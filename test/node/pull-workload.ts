/**
 * A pull workload on the node, and the detector that counts what went wrong with its pulls.
 *
 * Each namespace gets long-lived pods whose containers exit every few seconds and are restarted by the
 * kubelet (restartPolicy Always, imagePullPolicy Always: every restart pulls again, with the pull secret
 * names the pod was created with), and a stream of short-lived pods (one container per image: by default one
 * from the Basic registry and one from the Bearer registry) created under the default ServiceAccount.
 * Finished pods are deleted by a janitor; pods whose pulls failed stay and are counted.
 *
 * A pull failure is what the kubelet reports for it: a Warning Event `Failed` about a pull (including the
 * keyring errors of an unparsable pull secret, which never reach ErrImagePull), `FailedToRetrieveImagePullSecret`,
 * a `BackOff` on pulling, or a container waiting in ErrImagePull / ImagePullBackOff.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { api, env, sleep } from '../helpers/stack.ts';
import { image, runPod } from '../helpers/node.ts';

export interface PullReport {
  pods: number;
  /** Pods that ended in ErrImagePull / ImagePullBackOff (retired by the janitor, or still there at the end). */
  podsEndedInPullBackOff: number;
  /** Pods never scheduled or never started (a workload that did not run proves nothing). */
  podsNeverStarted: number;
  /** Successful pulls (kubelet `Pulled` Events). */
  pulled: number;
  /** Pull failures, by Event reason. */
  failures: Record<string, number>;
  failureTotal: number;
  /** Pull failures by the registry of the image they name (a failed secret lookup names none: `-`). */
  failuresByRegistry: Record<string, number>;
  /** Other Warning Events (not about pulls), for the record. */
  otherWarnings: Record<string, number>;
  samples: string[];
  /** Pods (and their pull failures) lost to the kubelet/node-authorizer race: see authorizerRacePods. */
  authorizerRace: { pods: string[]; failures: number };
}

/**
 * Pods whose pulls failed because the kubelet could not read an existing pull secret in time: it asked the
 * API server for the secret right after the pod was bound, the node authorizer (whose graph had not yet
 * seen the binding) refused — "no relationship found between node … and this object" — and the kubelet
 * logged "failed to sync secret cache" and pulled without that secret. An upstream race
 * (kubernetes/kubernetes#128910, #133269) that any pod can hit when no other pod on its node holds the same
 * secret. A deleted or missing secret is logged as "not found" instead, so this never hides one: a pod with
 * any other reason for a missing secret is not in the set.
 */
export function authorizerRacePods(): Set<string> {
  const text = readFileSync(env('REGCRED_STACK_KUBELET_LOG'), 'utf8');
  const race = new Set<string>();
  const other = new Set<string>();
  for (const m of text.matchAll(
    /"Unable to retrieve pull secret[^\n]*? pod="([^"]+)"[^\n]*? err="([^\n]*)"/g,
  ))
    (m[2]!.startsWith('failed to sync secret cache') ? race : other).add(m[1]!);
  for (const p of other) race.delete(p);
  return race;
}

const RESTARTING = ['sh', '-c', 'sleep 3; exit 0'];
/** At most this many short-lived pods of one workload on the node at once. */
const MAX_OUTSTANDING = 24;

const stuckOnPull = (p: V1Pod): boolean =>
  (p.status?.containerStatuses ?? []).some((s) =>
    ['ErrImagePull', 'ImagePullBackOff'].includes(s.state?.waiting?.reason ?? ''),
  );

function isPullFailure(reason: string, message: string): boolean {
  if (reason === 'FailedToRetrieveImagePullSecret' || reason === 'ErrImageNeverPull') return true;
  if (reason === 'BackOff') return /pulling image/i.test(message);
  if (reason === 'Failed')
    return /pull|ErrImagePull|ImagePullBackOff|unmarshal|base64|unauthorized|denied|401|403/i.test(message);
  return false;
}

/** The registry host of the image a kubelet Event names (`Failed to pull image "host/repo:tag"`), or `-`. */
function registryNamed(message: string): string {
  return /image "([^"/]+)\//.exec(message)?.[1] ?? '-';
}

/**
 * Successful pulls (kubelet `Pulled` Events) in `namespaces` last seen in a second after `t`; `pods`: only
 * those of pods whose name matches (a pod's repeated pulls may share one Event: then it counts once).
 */
export async function pullsSince(namespaces: readonly string[], t: number, pods?: RegExp): Promise<number> {
  let n = 0;
  for (const namespace of namespaces) {
    const l = await api().listNamespacedEvent({ namespace, fieldSelector: 'reason=Pulled' });
    for (const e of l.items)
      if (
        Date.parse(String(e.lastTimestamp)) >= Math.ceil(t / 1000) * 1000 &&
        (pods === undefined || pods.test(e.involvedObject.name ?? ''))
      )
        n++;
  }
  return n;
}

/** One line of a workload's report, as the zero-failed-pulls tests print it. */
export function reportLine(name: string, x: PullReport): string {
  return `${name}: ${x.pods} pods, ${x.pulled} successful pulls, ${x.failureTotal} pull failures ${JSON.stringify(x.failures)}, ${x.podsEndedInPullBackOff} pods ended in ErrImagePull/ImagePullBackOff, ${x.podsNeverStarted} never started, other warnings ${JSON.stringify(x.otherWarnings)}${x.authorizerRace.pods.length ? `; apart: ${x.authorizerRace.pods.length} pods (${x.authorizerRace.failures} pull failures) lost to the kubelet/node-authorizer race (kubernetes/kubernetes#128910): ${x.authorizerRace.pods.join(', ')}` : ''}`;
}

/** A report of nothing yet: what a workload's report and a merge of reports start from. */
export const emptyReport = (): PullReport => ({
  pods: 0,
  podsEndedInPullBackOff: 0,
  podsNeverStarted: 0,
  pulled: 0,
  failures: {},
  failureTotal: 0,
  failuresByRegistry: {},
  otherWarnings: {},
  samples: [],
  authorizerRace: { pods: [], failures: 0 },
});

/** How long stop() waits for the pods created last to start (a pull on a busy node takes seconds). */
const START_GRACE_MS = 20_000;

/**
 * An API server answer that says "loaded, try again" (429, 5xx, a timeout or a reset), not "wrong": the
 * node lane runs beside the integration lane on two cores, and the API server answered pod creates with
 * 504 in CI runs. Such answers are the test stack's, not the rotation's: counted, not failed on.
 */
export function transientApiError(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'number' && (code === 429 || code >= 500)) return true;
  return /ECONNRESET|ETIMEDOUT|socket hang up|timed? ?out|HTTP-Code: (429|5\d\d)/i.test((e as Error).message);
}

/** Pending, and no container has an image yet: not scheduled, or not started. */
const notStarted = (p: V1Pod): boolean =>
  p.status?.phase === 'Pending' && !(p.status.containerStatuses ?? []).some((c) => c.imageID);

export class PullWorkload {
  readonly #namespaces: string[];
  readonly #pullSecrets: string[] | undefined;
  readonly #intervalMs: number;
  readonly #images: string[];
  #stop = false;
  #wake: () => void = () => undefined;
  /** Resolves on stop(): the loops' pauses end early, so that stopping takes no interval's wait. */
  readonly #stopped = new Promise<void>((r) => (this.#wake = r));
  #loops: Promise<void>[] = [];
  #created = 0;
  #longLived = 0;
  /** Pods the janitor retired after they sat in ImagePullBackOff (counted before deletion). */
  readonly #retiredStuck = new Set<string>();
  readonly #stuckSince = new Map<string, number>();
  errors: string[] = [];
  /** API calls the loaded API server answered with 429/5xx/timeouts (see transientApiError). */
  apiRetries = 0;

  /**
   * `pullSecrets` undefined: pods take the ServiceAccount's list (the managed case). `images`: what every
   * pod pulls (default: the test image from the Basic and from the Bearer registry).
   */
  constructor(namespaces: string[], opts: { intervalMs: number; pullSecrets?: string[]; images?: string[] }) {
    this.#namespaces = namespaces;
    this.#pullSecrets = opts.pullSecrets;
    this.#intervalMs = opts.intervalMs;
    this.#images = opts.images ?? [image('basic'), image('bearer')];
  }

  get created(): number {
    return this.#created;
  }

  /** One more long-lived, restarting pod in every namespace (holding the secret names of this moment). */
  async addLongLived(): Promise<void> {
    const k = this.#longLived++;
    for (const ns of this.#namespaces) {
      await runPod(ns, `ll-${k}`, {
        images: this.#images,
        pullSecrets: this.#pullSecrets,
        pullPolicy: 'Always',
        command: RESTARTING,
        labels: { workload: 'long-lived' },
      });
      this.#created++;
    }
  }

  start(): void {
    this.#loops.push(this.#creator(), this.#janitor());
  }

  /**
   * Stops creating pods, then waits (at most START_GRACE_MS) until the last ones created have started or
   * failed their pull: a pod created a moment before stop() would otherwise count as never started. (The
   * creator used to sleep out its interval after its last pod, which gave that pod its time; the loops now
   * end at once, so the wait is explicit.)
   */
  async stop(): Promise<void> {
    this.#stop = true;
    this.#wake();
    await Promise.all(this.#loops);
    const deadline = Date.now() + START_GRACE_MS;
    while (Date.now() < deadline) {
      let waiting = 0;
      for (const ns of this.#namespaces) {
        const pods = await api()
          .listNamespacedPod({ namespace: ns, labelSelector: 'workload' })
          .catch((e: unknown) => {
            if (!transientApiError(e)) throw e;
            return { items: [{ status: { phase: 'Pending' } }] as V1Pod[] }; // not known yet: wait on
          });
        waiting += pods.items.filter((p) => !stuckOnPull(p) && notStarted(p)).length;
      }
      if (waiting === 0) return;
      await sleep(500);
    }
  }

  #pause(ms: number): Promise<void> {
    return Promise.race([sleep(ms).then(() => undefined), this.#stopped]);
  }

  /** Short-lived pods created and not yet retired: the creator waits while there are too many (node capacity). */
  #outstanding = 0;

  async #creator(): Promise<void> {
    let n = 0;
    while (!this.#stop) {
      if (this.#outstanding >= MAX_OUTSTANDING) {
        await this.#pause(500);
        continue;
      }
      const ns = this.#namespaces[n % this.#namespaces.length]!;
      try {
        await runPod(ns, `sl-${n}`, {
          images: this.#images,
          pullSecrets: this.#pullSecrets,
          pullPolicy: 'Always',
          restartPolicy: 'Never',
          command: ['true'],
          labels: { workload: 'short-lived' },
        });
        this.#created++;
        this.#outstanding++;
      } catch (e) {
        if (!transientApiError(e))
          this.errors.push(`create ${ns}/sl-${n}: ${(e as Error).message.slice(0, 200)}`);
        else {
          // A 504 may have been applied: a pod that exists is counted like any other.
          this.apiRetries++;
          const made = await api()
            .readNamespacedPod({ namespace: ns, name: `sl-${n}` })
            .then(() => true)
            .catch(() => false);
          if (made) {
            this.#created++;
            this.#outstanding++;
          }
        }
      }
      n++;
      await this.#pause(this.#intervalMs);
    }
  }

  /**
   * Deletes short-lived pods that finished, and those that sat in ErrImagePull/ImagePullBackOff for 10 s
   * (counted first): pods that never finish would otherwise fill the node.
   */
  async #janitor(): Promise<void> {
    while (!this.#stop) {
      let outstanding = 0;
      for (const ns of this.#namespaces) {
        try {
          const pods = await api().listNamespacedPod({
            namespace: ns,
            labelSelector: 'workload=short-lived',
          });
          outstanding += pods.items.length;
          for (const p of pods.items) {
            const key = `${ns}/${p.metadata?.name ?? ''}`;
            let retire = p.status?.phase === 'Succeeded';
            if (stuckOnPull(p)) {
              const since = this.#stuckSince.get(key) ?? Date.now();
              this.#stuckSince.set(key, since);
              if (Date.now() - since > 10_000) {
                this.#retiredStuck.add(key);
                this.#stuckSince.delete(key);
                retire = true;
              }
            }
            if (retire) {
              await api().deleteNamespacedPod({
                namespace: ns,
                name: p.metadata?.name ?? '',
                gracePeriodSeconds: 0,
              });
              outstanding--;
            }
          }
        } catch (e) {
          // A loaded API server's answer: the next round (2 s) lists again.
          if (transientApiError(e)) this.apiRetries++;
          else this.errors.push(`janitor ${ns}: ${(e as Error).message.slice(0, 200)}`);
        }
      }
      this.#outstanding = outstanding;
      await this.#pause(2000);
    }
  }

  /** What the kubelet reported for this workload's pulls, from Events and pod statuses. */
  async report(): Promise<PullReport> {
    const race = authorizerRacePods();
    const raced = new Set<string>();
    const r: PullReport = {
      ...emptyReport(),
      pods: this.#created,
      podsEndedInPullBackOff: [...this.#retiredStuck].filter((k) => !race.has(k)).length,
    };
    for (const ns of this.#namespaces) {
      for (const e of (await api().listNamespacedEvent({ namespace: ns })).items) {
        const reason = e.reason ?? '';
        const message = e.message ?? '';
        const count = e.count ?? 1;
        const pod = `${ns}/${e.involvedObject.name ?? ''}`;
        if (reason === 'Pulled') r.pulled += count;
        else if (isPullFailure(reason, message) && race.has(pod)) {
          raced.add(pod);
          r.authorizerRace.failures += count;
        } else if (isPullFailure(reason, message)) {
          r.failures[reason] = (r.failures[reason] ?? 0) + count;
          r.failureTotal += count;
          const reg = registryNamed(message);
          r.failuresByRegistry[reg] = (r.failuresByRegistry[reg] ?? 0) + count;
          if (r.samples.length < 8)
            r.samples.push(`${ns}/${e.involvedObject.name ?? ''}: ${reason}: ${message.slice(0, 220)}`);
        } else if (
          e.type === 'Warning' &&
          !(reason === 'BackOff' && /restarting failed container/.test(message))
        )
          r.otherWarnings[reason] = (r.otherWarnings[reason] ?? 0) + count;
      }
      // The workload's own pods: others in its namespaces (a test's parked pod, say) are not its pulls.
      for (const p of (await api().listNamespacedPod({ namespace: ns, labelSelector: 'workload' })).items) {
        if (stuckOnPull(p)) {
          if (race.has(`${ns}/${p.metadata?.name ?? ''}`)) raced.add(`${ns}/${p.metadata?.name ?? ''}`);
          else r.podsEndedInPullBackOff++;
        } else if (notStarted(p)) r.podsNeverStarted++;
      }
    }
    for (const k of this.#retiredStuck) if (race.has(k)) raced.add(k);
    r.authorizerRace.pods = [...raced].sort();

    return r;
  }
}
