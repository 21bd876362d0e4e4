/**
 * I4 at the engine's seam: the rotation is stopped after every possible number of writes k (a crash, or a
 * write the server applied whose response was lost), then run again. At every write of both runs the
 * cluster must satisfy I1 (no ServiceAccount or pod that referenced a managed secret is left with none
 * that exists) and I2 (foreign secrets and entries untouched, in order); the rerun must converge to the
 * same end state as an uninterrupted run.
 */
import { describe, expect, it } from 'vitest';
import { isManaged } from '../../../../src/kube/labels.ts';
import { Crash, FakeCluster } from '../../helpers/fake-cluster.ts';
import { engineConfig, FakeStore, run } from '../../helpers/engine.ts';

function seed(): { cluster: FakeCluster; store: FakeStore } {
  const cluster = new FakeCluster();
  const store = new FakeStore();
  store.set('user', 'robot');
  store.set('pass', 'first-password');
  for (const ns of ['ns-1', 'ns-2']) {
    cluster.addNamespace(ns);
    cluster.addSa(ns, 'default', ['foreign-a']);
    cluster.addSa(ns, 'builder', ['foreign-a']);
    cluster.addSecret({
      namespace: ns,
      name: 'regcred',
      type: 'kubernetes.io/dockerconfigjson',
      labels: {},
      annotations: {},
      data: { '.dockerconfigjson': 'e30=' },
      immutable: false,
    });
  }
  return { cluster, store };
}

/**
 * Everything a test can compare between two clusters. Managed names carry a random salt per cluster, so
 * they are replaced by what tells them apart: the source revision they were created for.
 */
function snapshot(c: FakeCluster) {
  const label = new Map<string, string>();
  for (const s of c.secrets.values()) {
    if (isManaged(s.labels))
      label.set(
        `${s.namespace}/${s.name}`,
        `managed@${s.annotations['regcred-rotator.io/source-revision'] ?? '?'}`,
      );
  }
  const show = (ns: string, n: string) => label.get(`${ns}/${n}`) ?? n;
  return {
    secrets: [...c.secrets.values()]
      .map((s) => `${s.namespace}/${show(s.namespace, s.name)} ${s.data['.dockerconfigjson'] ?? ''}`)
      .sort(),
    sas: [...c.sas.values()]
      .map(
        (s) => `${s.namespace}/${s.name}: ${s.imagePullSecrets.map((n) => show(s.namespace, n)).join(',')}`,
      )
      .sort(),
  };
}

/** Checks I1 and I2 against the cluster as it is now. */
function invariants(
  c: FakeCluster,
  everManaged: Set<string>,
  initialForeign: Map<string, string>,
  violations: string[],
): void {
  const fail = (m: string) => violations.push(m);
  for (const s of c.secrets.values()) if (isManaged(s.labels)) everManaged.add(`${s.namespace}/${s.name}`);
  const exists = (ns: string, n: string) => c.secrets.has(FakeCluster.key(ns, n));
  const holders = [...c.sas.values(), ...c.pods.values()];
  for (const h of holders) {
    const managedRefs = h.imagePullSecrets.filter((n) => everManaged.has(`${h.namespace}/${n}`));
    if (managedRefs.length > 0 && !managedRefs.some((n) => exists(h.namespace, n))) {
      fail(
        `I1 violated: ${h.namespace}/${h.name} references only missing managed secrets ${managedRefs.join(',')}`,
      );
    }
    const foreign = h.imagePullSecrets.filter((n) => !everManaged.has(`${h.namespace}/${n}`)).join(',');
    const key = `${h.namespace}/${h.name}`;
    if (initialForeign.has(key) && initialForeign.get(key) !== foreign)
      fail(`I2 violated: ${key} foreign entries ${initialForeign.get(key)} -> ${foreign}`);
  }
  for (const s of c.secrets.values()) {
    if (!isManaged(s.labels) && s.data['.dockerconfigjson'] !== 'e30=')
      fail(`I2 violated: foreign secret ${s.namespace}/${s.name} changed`);
  }
  for (const s of c.sas.values()) {
    if (s.name === 'builder' && s.imagePullSecrets.join(',') !== 'foreign-a')
      fail('I2 violated: builder (not selected) was changed');
    if (s.name === 'legacy' && (s.imagePullSecrets.length !== 2 || s.imagePullSecrets[0] !== 'foreign-c'))
      fail('I2 violated: legacy (not selected) was changed');
  }
}

/** Provision, put a pod on the first secret in ns-1, rotate: the scenario whose writes get cut short. */
async function scenario(crashAt: { crashBefore?: number; loseResponseOf?: number }) {
  const { cluster, store } = seed();
  const config = engineConfig();
  await run(cluster, store, config);
  for (const ns of ['ns-1', 'ns-2']) {
    const sa = cluster.sas.get(`${ns}/default`)!;
    const first = sa.imagePullSecrets.find((n) => n.startsWith('regcred-'))!;
    // Another team appends its own entry after ours, and a ServiceAccount the target does not select was
    // pointed at our secret by hand: both must survive the rotation intact.
    sa.imagePullSecrets.push('foreign-b');
    cluster.addSa(ns, 'legacy', ['foreign-c', first]);
  }
  cluster.addPodUnder('ns-1', 'web-1', 'default');
  store.set('pass', 'second-password');
  const everManaged = new Set<string>();
  const initialForeign = new Map(
    [...cluster.sas.values(), ...cluster.pods.values()].map((h) => [
      `${h.namespace}/${h.name}`,
      h.imagePullSecrets.filter((n) => !n.startsWith('regcred-')).join(','),
    ]),
  );
  const violations: string[] = [];
  cluster.afterWrite = (c) => invariants(c, everManaged, initialForeign, violations);
  invariants(cluster, everManaged, initialForeign, violations);
  const base = cluster.writes;
  if (crashAt.crashBefore !== undefined) cluster.crashBefore = base + crashAt.crashBefore;
  if (crashAt.loseResponseOf !== undefined) cluster.loseResponseOf = base + crashAt.loseResponseOf;
  const first = await run(cluster, store, config).catch((e: unknown) => {
    if (e instanceof Crash) return undefined;
    throw e;
  });
  cluster.crashBefore = undefined;
  cluster.loseResponseOf = undefined;
  const second = await run(cluster, store, config);
  const third = await run(cluster, store, config);
  return { cluster, first, second, third, violations, writesInRotation: cluster.writes - base };
}

describe('crash safety (I4) at the engine seam', () => {
  it('an uninterrupted rotation is the reference: pod keeps the old secret alive, the rest is cleaned up', async () => {
    const { cluster, second, third, violations } = await scenario({});
    expect(violations).toEqual([]);
    expect(second.namespaces.every((n) => n.outcome !== 'failed')).toBe(true);
    expect(third.writes).toBe(0);
    const snap = snapshot(cluster);
    // Both namespaces keep the old secret: the legacy ServiceAccount still references it (and in ns-1, web-1).
    expect(snap.secrets.filter((s) => s.startsWith('ns-1/managed'))).toHaveLength(2);
    expect(snap.secrets.filter((s) => s.startsWith('ns-2/managed'))).toHaveLength(2);
    expect(snap.sas).toContain('ns-1/default: foreign-a,managed@user@1,pass@2,foreign-b');
    expect(snap.sas).toContain('ns-2/default: foreign-a,managed@user@1,pass@2,foreign-b');
    expect(snap.sas).toContain('ns-2/legacy: foreign-c,managed@user@1,pass@2');
    // The kept old secret now carries the new credentials (refreshed), so web-1 keeps pulling.
    const [a, b] = snap.secrets.filter((s) => s.startsWith('ns-1/managed')).map((s) => s.split(' ')[1]);
    expect(a).toBe(b);
  });

  it('for every k, stopping after k writes and rerunning keeps I1/I2 and converges to the same state', async () => {
    const reference = snapshot((await scenario({})).cluster);
    const total = (await scenario({})).writesInRotation;
    expect(total).toBeGreaterThanOrEqual(6);
    for (let k = 1; k <= total + 1; k++) {
      const r = await scenario({ crashBefore: k });
      expect(r.violations, `crash before write ${k}`).toEqual([]);
      expect(snapshot(r.cluster), `crash before write ${k}`).toEqual(reference);
      expect(r.third.writes, `no-op after crash at ${k}`).toBe(0);
    }
  });

  it('for every k, a write applied whose response was lost is recovered by the rerun', async () => {
    const reference = snapshot((await scenario({})).cluster);
    const total = (await scenario({})).writesInRotation;
    for (let k = 1; k <= total; k++) {
      const r = await scenario({ loseResponseOf: k });
      expect(r.violations, `lost response of write ${k}`).toEqual([]);
      expect(snapshot(r.cluster), `lost response of write ${k}`).toEqual(reference);
    }
  });
});
