/**
 * `regcred-rotator --rotate-now` (the real CLI) against the real API server: targeting, foreign entries,
 * pod-aware retention, ownership, concurrent writers, zero-write reruns, Terminating namespaces, and bad
 * input that must leave the cluster byte-for-byte unchanged.
 */
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listClusterWide } from '../../src/kube/k8s-gateway.ts';
import { fileConfig, Workspace } from '../helpers/rotator.ts';
import {
  api,
  auditEvents,
  createPod,
  managedSecrets,
  pullSecretsOf,
  sleep,
  snapshotNamespaces,
  stack,
  suffix,
  testNamespaces,
} from '../helpers/stack.ts';

const sfx = suffix();
const spaces = testNamespaces(`rot-${sfx}`);
const ns = spaces.make;
afterAll(spaces.cleanup);

const config = (w: Workspace, target: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  fileConfig(w, target, { lock: { namespace: 'default' }, ...extra });
const useFirstCreds = (w: Workspace) => (w.cred('user', stack.user), w.cred('pass', `${stack.password}\n`));
const useSecondCreds = (w: Workspace) => (w.cred('user', stack.user2), w.cred('pass', stack.password2));
const setPulls = (namespace: string, names: string[], sa = 'default') =>
  api().patchNamespacedServiceAccount(
    { namespace, name: sa, body: { imagePullSecrets: names.map((name) => ({ name })) } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );

describe('targeting: names, selector, exclude', () => {
  const w = new Workspace();
  let a = '',
    b = '',
    c = '',
    d = '';
  beforeAll(async () => {
    a = await ns('a');
    b = await ns('b', { team: `t${sfx}` });
    c = await ns('c', { team: `t${sfx}` });
    d = await ns('d');
    useFirstCreds(w);
    config(w, {
      namespaces: { names: [a], selector: `team=t${sfx}`, exclude: ['*-c'] },
      secretName: 'regcred',
    });
  });

  it('provisions exactly the selected namespaces and leaves the others byte-for-byte alone', async () => {
    const untouched = await snapshotNamespaces([c, d]);
    const r = await w.rotate();
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary?.['outcomes']).toEqual({ provisioned: 2 });
    for (const n of [a, b]) {
      const [secret] = await managedSecrets(n);
      expect(secret).toMatch(/^regcred-[0-9a-f]{10}$/);
      expect(await pullSecretsOf(n)).toEqual([secret]);
      const s = await api().readNamespacedSecret({ namespace: n, name: secret! });
      expect(s.type).toBe('kubernetes.io/dockerconfigjson');
      const doc = JSON.parse(Buffer.from(s.data?.['.dockerconfigjson'] ?? '', 'base64').toString()) as {
        auths: Record<string, { username: string; password: string; auth: string }>;
      };
      expect(doc.auths[stack.registryBasic]).toEqual({
        username: stack.user,
        password: stack.password,
        auth: Buffer.from(`${stack.user}:${stack.password}`).toString('base64'),
      });
    }
    expect(await snapshotNamespaces([c, d])).toBe(untouched);
  });
});

describe('rotation: foreign entries, pods, retention, unmanaged secrets', () => {
  const w = new Workspace();
  let a = '',
    b = '';
  beforeAll(async () => {
    a = await ns('pods');
    b = await ns('nopods');
    useFirstCreds(w);
    config(
      w,
      { namespaces: { names: [a, b] }, secretName: 'regcred' },
      { rotation: { retainSuperseded: '4s' } },
    );
    // An unmanaged secret called `regcred` (what the seed recipe leaves behind), referenced first.
    await api().createNamespacedSecret({
      namespace: a,
      body: {
        metadata: { name: 'regcred' },
        type: 'kubernetes.io/dockerconfigjson',
        data: { '.dockerconfigjson': Buffer.from('{"auths":{}}').toString('base64') },
      },
    });
    await setPulls(a, ['regcred', 'foreign-1', 'foreign-2']);
  });

  it('first run appends ours after the foreign entries, in order', async () => {
    const r = await w.rotate();
    expect(r.code, r.stderr).toBe(0);
    const [first] = await managedSecrets(a);
    expect(await pullSecretsOf(a)).toEqual(['regcred', 'foreign-1', 'foreign-2', first]);
  });

  it('after a source change the SA points at the new secret in place; the old one stays for the pod, refreshed', async () => {
    const [first] = await managedSecrets(a);
    await setPulls(a, ['regcred', 'foreign-1', 'foreign-2', first!, 'foreign-3']);
    expect(await createPod(a, 'web-1')).toEqual(['regcred', 'foreign-1', 'foreign-2', first, 'foreign-3']);
    const unmanagedBefore = await api().readNamespacedSecret({ namespace: a, name: 'regcred' });
    useSecondCreds(w);
    const r = await w.rotate();
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary?.['outcomes']).toEqual({ rotated: 2 });
    const secrets = await managedSecrets(a);
    const second = secrets.find((s) => s !== first)!;
    expect(secrets).toEqual([first, second].sort());
    expect(await pullSecretsOf(a)).toEqual(['regcred', 'foreign-1', 'foreign-2', second, 'foreign-3']);
    const [oldS, newS] = await Promise.all(
      [first!, second].map((name) => api().readNamespacedSecret({ namespace: a, name })),
    );
    expect(oldS?.data).toEqual(newS?.data); // web-1 pulls with the new credentials through the old name
    const unmanagedAfter = await api().readNamespacedSecret({ namespace: a, name: 'regcred' });
    expect(unmanagedAfter.metadata?.resourceVersion).toBe(unmanagedBefore.metadata?.resourceVersion);
  });

  it('past the grace period: deleted where no pod uses it, kept while a live pod does, deleted once the pod is gone', async () => {
    await sleep(4500);
    let r = await w.rotate();
    expect(r.code, r.stderr).toBe(0);
    expect(await managedSecrets(b)).toHaveLength(1);
    expect(await managedSecrets(a)).toHaveLength(2);
    const kept = (r.logs.find((l) => l['msg'] === 'run summary') ?? {})['outcomes'];
    expect(kept).toEqual({ updated: 1, unchanged: 1 });
    await api().deleteNamespacedPod({ namespace: a, name: 'web-1' });
    r = await w.rotate();
    expect(r.code, r.stderr).toBe(0);
    expect(await managedSecrets(a)).toHaveLength(1);
    expect(await api().readNamespacedSecret({ namespace: a, name: 'regcred' })).toBeTruthy();
  });

  it('an in-place target whose name is taken by an unmanaged secret refuses, touching nothing', async () => {
    const w2 = new Workspace();
    useFirstCreds(w2);
    config(w2, { name: 'inplace', namespaces: { names: [a] }, secretName: 'regcred', strategy: 'in-place' });
    const before = await snapshotNamespaces([a]);
    const r = await w2.rotate();
    expect(r.code).toBe(1);
    expect(r.text).toMatch(/secret .*\/regcred exists and is not managed by regcred-rotator/);
    expect(await snapshotNamespaces([a])).toBe(before);
  });
});

describe('in-place strategy', () => {
  const w = new Workspace();
  let a = '';
  beforeAll(async () => {
    a = await ns('inplace');
    useFirstCreds(w);
    config(w, { namespaces: { names: [a] }, secretName: 'pull-stable', strategy: 'in-place' });
  });
  it('keeps one name and updates its data with a resourceVersion precondition', async () => {
    expect((await w.rotate()).code).toBe(0);
    expect(await pullSecretsOf(a)).toEqual(['pull-stable']);
    const before = await api().readNamespacedSecret({ namespace: a, name: 'pull-stable' });
    useSecondCreds(w);
    const r = await w.rotate();
    expect(r.summary?.['outcomes']).toEqual({ rotated: 1 });
    const after = await api().readNamespacedSecret({ namespace: a, name: 'pull-stable' });
    expect(after.metadata?.uid).toBe(before.metadata?.uid);
    expect(after.data).not.toEqual(before.data);
    expect(await pullSecretsOf(a)).toEqual(['pull-stable']);
  });
});

describe('retainSuperseded "0" with a pod on the old secret: one settle wait, not two', () => {
  const w = new Workspace();
  const SETTLE = 3;
  let a = '';
  beforeAll(async () => {
    a = await ns('settle');
    useFirstCreds(w);
    config(
      w,
      { namespaces: { names: [a] } },
      {
        rotation: { retainSuperseded: '0', settleSeconds: SETTLE },
        lock: { namespace: 'default', name: `st-${sfx}` },
      },
    );
    expect((await w.rotate()).code).toBe(0);
  });
  it('the old secret is refreshed before the pods are read; the run reports settleSeconds after that refresh', async () => {
    const [first] = await managedSecrets(a);
    expect(await createPod(a, 'web-1')).toContain(first);
    useSecondCreds(w);
    const r = await w.rotate();
    expect(r.code, r.text).toBe(0);
    const second = (await managedSecrets(a)).find((x) => x !== first)!;
    const oldS = await api().readNamespacedSecret({ namespace: a, name: first! });
    const newS = await api().readNamespacedSecret({ namespace: a, name: second });
    expect(oldS.data).toEqual(newS.data); // kept for web-1, with the new credentials
    const at = (s: typeof oldS) =>
      Date.parse(s.metadata?.annotations?.['regcred-rotator.io/rotated-at'] ?? '');
    const settledAt = Date.parse(String(r.summary?.['settledAt']));
    // Refreshed right after the repoint (pass one), not after the pods were read SETTLE seconds later…
    expect(at(oldS) - at(newS)).toBeLessThan(1000);
    // …and the run waited until SETTLE seconds after that refresh, once: the wait for the pods covered it.
    expect(settledAt - at(oldS)).toBeGreaterThanOrEqual(SETTLE * 1000);
    expect(settledAt - at(newS)).toBeLessThan(2 * SETTLE * 1000 - 1000);
  });
});

describe('results are streamed: a namespace waiting on its pods reports what it did before the wait', () => {
  const w = new Workspace();
  const SETTLE = 2;
  let a = '',
    b = '';
  beforeAll(async () => {
    a = await ns('lean-kept');
    b = await ns('lean-gone');
    useFirstCreds(w);
    config(
      w,
      { namespaces: { names: [a, b] } },
      {
        rotation: { retainSuperseded: '0', settleSeconds: SETTLE },
        lock: { namespace: 'default', name: `ln-${sfx}` },
      },
    );
    expect((await w.rotate()).code).toBe(0);
    await createPod(a, 'web-1'); // keeps a's old secret; b's goes after the pod check
    useSecondCreds(w);
  });

  it('its Rotated Events go out before the pod check; every write is counted once; the log names every action', async () => {
    const [oldA] = await managedSecrets(a);
    const [oldB] = await managedSecrets(b);
    const from = Date.now();
    const r = await w.rotate();
    expect(r.code, r.text).toBe(0);
    expect(r.summary?.['outcomes']).toEqual({ rotated: 2 });
    await sleep(500); // the audit log is written as requests complete
    const writes = auditEvents().filter(
      (e) =>
        Date.parse(e.requestReceivedTimestamp) >= from &&
        e.userAgent.startsWith('regcred-rotator') &&
        [a, b].includes(e.objectRef?.namespace ?? '') &&
        ['create', 'update', 'patch', 'delete'].includes(e.verb),
    );
    // create, repoint, refresh in each namespace, and b's delete: counted once although reported in two parts.
    expect(writes).toHaveLength(7);
    expect(r.summary?.['writes']).toBe(writes.length);
    const deletedAt = Date.parse(
      writes.find((e) => e.verb === 'delete' && e.objectRef?.name === oldB)!.requestReceivedTimestamp,
    );
    // Events carry second-resolution times: sent before the pod check, they are a second or more older than
    // the delete that came SETTLE seconds after the repoint (a run that reported at the end sends them after).
    for (const [n, old] of [
      [a, oldA],
      [b, oldB],
    ] as const) {
      const fresh = (await managedSecrets(n)).find((x) => x !== old)!;
      const rotated = (await api().listNamespacedEvent({ namespace: n })).items.filter(
        (e) =>
          e.reason === 'Rotated' && (e.involvedObject.name === fresh || e.message?.includes(`use ${fresh} `)),
      );
      expect(rotated.map((e) => e.involvedObject.kind).sort(), n).toEqual(['Secret', 'ServiceAccount']);
      for (const e of rotated) expect(Date.parse(String(e.firstTimestamp))).toBeLessThan(deletedAt - 1000);
    }
    const converged = r.stderr
      .split('\n')
      .filter((l) => l.includes('"msg":"namespace converged"'))
      .map((l) => JSON.parse(l) as { namespace: string; actions: string[] });
    expect(Object.fromEntries(converged.map((l) => [l.namespace, l.actions]))).toEqual({
      [a]: ['create', 'repoint', 'update-data'],
      [b]: ['create', 'repoint', 'update-data', 'delete'],
    });
  });
});

describe('rollout complete: the old credential may go once every namespace holds the new one and nodes have settled', () => {
  const w = new Workspace();
  const SETTLE = 2;
  let a = '',
    b = '';
  interface Rollout {
    target: string;
    revision: string;
    revisionId: string;
    namespaces: number;
    at: string;
  }
  const rollouts = (stderr: string): Rollout[] =>
    stderr
      .split('\n')
      .filter((l) => l.includes('"msg":"rollout complete"'))
      .map((l) => JSON.parse(l) as Rollout);
  const configure = (refreshSuperseded: boolean) =>
    config(
      w,
      { namespaces: { names: [a, b] } },
      {
        rotation: { retainSuperseded: '0', settleSeconds: SETTLE, refreshSuperseded },
        lock: { namespace: 'default', name: `rc-${sfx}` },
      },
    );
  beforeAll(async () => {
    a = await ns('rc-a');
    b = await ns('rc-b');
    useFirstCreds(w);
    configure(true);
  });

  it('follows a provisioning, a rotation (after the settle time) and a no-op run; not a -n run', async () => {
    const first = await w.rotate();
    expect(first.code, first.text).toBe(0);
    const [p] = rollouts(first.stderr);
    expect(p).toMatchObject({ target: 'stack', namespaces: 2 });
    expect(p?.revision).toMatch(/\S/);
    const [oldA] = await managedSecrets(a);
    expect(await createPod(a, 'web-1')).toContain(oldA); // a keeps its old secret, refreshed
    useSecondCreds(w);
    const limited = await w.rotate(['-n', b]);
    expect(limited.code, limited.text).toBe(0);
    expect(rollouts(limited.stderr)).toEqual([]);
    const r = await w.rotate();
    expect(r.code, r.text).toBe(0);
    const [done] = rollouts(r.stderr);
    expect(done).toMatchObject({ target: 'stack', namespaces: 2 });
    expect(done?.revisionId).not.toBe(p?.revisionId);
    const refreshed = await api().readNamespacedSecret({ namespace: a, name: oldA! });
    const refreshedAt = Date.parse(refreshed.metadata?.annotations?.['regcred-rotator.io/rotated-at'] ?? '');
    expect(Date.parse(done!.at) - refreshedAt).toBeGreaterThanOrEqual(SETTLE * 1000);
    // Nothing left to do: the same revision is complete again (no write).
    const noop = await w.rotate();
    expect(noop.summary?.['writes']).toBe(0);
    expect(rollouts(noop.stderr).map((x) => x.revisionId)).toEqual([done?.revisionId]);
  });

  it('is not reported while a kept superseded secret still holds the old credential', async () => {
    configure(false);
    const [held] = await createPod(a, 'web-2'); // the secret `a` uses now (second credentials)
    useFirstCreds(w);
    const r = await w.rotate();
    expect(r.code, r.text).toBe(0);
    expect(rollouts(r.stderr)).toEqual([]);
    // Kept for web-2 and, with refreshSuperseded: false, still holding the second registry user.
    const kept = await api().readNamespacedSecret({ namespace: a, name: held! });
    const data = Buffer.from(kept.data?.['.dockerconfigjson'] ?? '', 'base64').toString('utf8');
    expect(data).toContain(stack.user2);
  });
});

describe('a concurrent writer on the same ServiceAccounts loses nothing', () => {
  const w = new Workspace();
  const names: string[] = [];
  beforeAll(async () => {
    for (let i = 0; i < 24; i++) names.push(await ns(`cw${i}`, { cw: `c${sfx}` }));
    useFirstCreds(w);
    config(
      w,
      { namespaces: { selector: `cw=c${sfx}` } },
      { rotation: { concurrency: 8 }, lock: { namespace: 'default', name: `cw-${sfx}` } },
    );
    expect((await w.rotate()).code).toBe(0);
    useSecondCreds(w);
  });
  let rotatedAt = 0;

  it('writer entries appended during a rotation all survive, and every SA ends on the new secret', async () => {
    // The race is not certain on a given run (it depends on the machine's speed; a CI run once had none):
    // up to three rotations, each to a revision not seen before (the file store's revision is a digest of
    // the file, and a trailing newline is not part of the password) and each checked in full, until writer
    // writes have landed among the rotator's.
    const next = [
      () => useSecondCreds(w), // set in beforeAll already
      () => (w.cred('user', stack.user), w.cred('pass', stack.password)),
      () => (w.cred('user', stack.user2), w.cred('pass', `${stack.password2}\n`)),
    ];
    let raced = 0;
    for (let attempt = 1; attempt <= next.length && raced === 0; attempt++) {
      next[attempt - 1]!();
      raced = await rotateRacingWriters(attempt);
    }
    expect(raced, "writer writes inside the rotator's ServiceAccount writes").toBeGreaterThan(0);
  });

  /** One rotation with four writers appending to the ServiceAccounts; every entry kept. Returns the raced writes. */
  async function rotateRacingWriters(attempt: number): Promise<number> {
    let stop = false;
    const appended = new Map<string, string[]>();
    // Four writers, each on its own quarter of the namespaces, so that they race the rotator (not each
    // other) and enough of their writes land while it runs.
    const writer = async (w0: number) => {
      let i = w0;
      while (!stop) {
        const namespace = names[i % names.length]!;
        const entry = `writer-${attempt}-${i}`;

        for (;;) {
          const sa = await api().readNamespacedServiceAccount({ namespace, name: 'default' });
          sa.imagePullSecrets = [...(sa.imagePullSecrets ?? []), { name: entry }];
          try {
            await api().replaceNamespacedServiceAccount({ namespace, name: 'default', body: sa });
            break;
          } catch (e) {
            if ((e as { code?: number }).code !== 409) throw e;
          }
        }
        appended.set(namespace, [...(appended.get(namespace) ?? []), entry]);
        i += 4;
      }
    };
    const writing = Promise.all([0, 1, 2, 3].map(writer));
    rotatedAt = Date.now();
    const r = await w.rotate();
    stop = true;
    await writing;
    expect(r.code, r.stderr).toBe(0);
    // Did the race happen: writer writes landed between the rotator's first and last ServiceAccount write
    // (the API server's audit log)?
    await sleep(500); // the audit log is written as requests complete
    const saWrites = auditEvents().filter(
      (e) =>
        e.objectRef?.resource === 'serviceaccounts' &&
        names.includes(e.objectRef.namespace ?? '') &&
        ['patch', 'update'].includes(e.verb) &&
        Date.parse(e.requestReceivedTimestamp) >= rotatedAt,
    );
    const ours = saWrites.filter((e) => e.userAgent.startsWith('regcred-rotator'));
    const at = (e: { stageTimestamp: string }) => Date.parse(e.stageTimestamp);
    const [first, last] = [Math.min(...ours.map(at)), Math.max(...ours.map(at))];
    const raced = saWrites.filter(
      (e) =>
        !e.userAgent.startsWith('regcred-rotator') &&
        e.responseStatus?.code === 200 &&
        at(e) > first &&
        at(e) < last,
    );
    expect(ours.length).toBeGreaterThanOrEqual(names.length);
    console.log(
      `[integration] concurrent writer, rotation ${attempt}: ${raced.length} of ${[...appended.values()].flat().length} writer writes landed among the rotator's ${ours.length} ServiceAccount writes`,
    );
    for (const namespace of names) {
      const pulls = await pullSecretsOf(namespace);
      const current = (await managedSecrets(namespace)).filter((n) => pulls.includes(n));
      expect(current, namespace).toHaveLength(1);
      expect(
        pulls.filter((p) => p.startsWith(`writer-${attempt}-`)),
        namespace,
      ).toEqual(appended.get(namespace) ?? []);
    }
    return raced.length;
  }

  it('a rerun with an unchanged source makes zero write requests (recorded by the API server)', async () => {
    // The API server's audit log says what was written where: nothing in these namespaces (Secrets,
    // ServiceAccounts, pods, Events) and not this run's Lease — the rotator takes it only before a first
    // write. Attributed by object, so other tests and controllers writing elsewhere meanwhile do not count.
    const from = Date.now();
    const r = await w.rotate();
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary?.['writes']).toBe(0);
    await sleep(500); // the audit log is written as requests complete
    const writesSince = (t: number) =>
      auditEvents()
        .filter(
          (e) =>
            Date.parse(e.requestReceivedTimestamp) >= t &&
            !['get', 'list', 'watch'].includes(e.verb) &&
            (names.includes(e.objectRef?.namespace ?? '') ||
              (e.objectRef?.resource === 'leases' && e.objectRef.name === `cw-${sfx}`)),
        )
        .map(
          (e) =>
            `${e.userAgent.split(' ')[0] ?? ''} ${e.verb} ${e.objectRef?.resource ?? ''} ${e.objectRef?.namespace ?? ''}/${e.objectRef?.name ?? ''}`,
        );
    expect(writesSince(from)).toEqual([]);
    // The same filter sees the rotation before (a new secret, ServiceAccounts, the Lease; the old secrets are
    // retained): it would see ours.
    const seen = writesSince(rotatedAt).join('\n');
    for (const what of [
      /^regcred-rotator create secrets /m,
      /^regcred-rotator patch serviceaccounts /m,
      new RegExp(`^regcred-rotator (create|update) leases default/cw-${sfx}$`, 'm'),
    ])
      expect(seen).toMatch(what);
    expect(r.summary?.['events']).toBe(0);
    // Our own count agrees: a handful of reads, not one request per namespace, and no Lease at all.
    const ours = Object.entries(r.summary?.['requests'] as Record<string, number>);
    expect(
      ours.every(([k]) => k === 'list namespaces' || k === 'list secrets' || k === 'list serviceaccounts'),
      JSON.stringify(ours),
    ).toBe(true);
    // Batched when the scope is a fair share of the cluster (one list each), per namespace when it is a
    // small part of a big one (see listClusterWide): either way lists only, and never per-object reads.
    const total = ((await api().listNamespace({ limit: 1 })).metadata?.remainingItemCount ?? 0) + 1;
    const budget = listClusterWide(names.length, total) ? 6 : 3 + 2 * names.length;
    expect(ours.reduce((n, [, v]) => n + v, 0)).toBeLessThanOrEqual(budget);
  });
});

describe('namespaces that cannot be written, and bad input', () => {
  const w = new Workspace();
  let ok = '',
    term = '';
  beforeAll(async () => {
    ok = await ns('ok');
    term = await ns('term');
    // A finalizer on an object inside keeps the namespace Terminating.
    await api().createNamespacedConfigMap({
      namespace: term,
      body: { metadata: { name: 'hold', finalizers: ['regcred-rotator.io/test-hold'] } },
    });
    await api().deleteNamespace({ name: term });
    useFirstCreds(w);
    config(w, { namespaces: { names: [ok, term] } });
  });
  afterAll(async () => {
    await api()
      .patchNamespacedConfigMap(
        { namespace: term, name: 'hold', body: { metadata: { finalizers: null } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      )
      .catch(() => undefined);
  });

  it('a Terminating namespace is skipped with a note; the others are done', async () => {
    const r = await w.rotate();
    expect(r.code, r.stderr).toBe(0);
    expect(r.summary?.['outcomes']).toEqual({ provisioned: 1, skipped: 1 });
    expect(await managedSecrets(term)).toEqual([]);
  });

  it.each([
    ['an empty password file', (x: Workspace) => x.cred('pass', ''), /key "user \+ pass": empty password/],
    ['a username with ":"', (x: Workspace) => x.cred('user', 'a:b'), /username for "[^"]+" contains ":"/],
    ['a missing key', (x: Workspace) => x.cred('user', ''), /empty username/],
  ])('%s: exit 1, a clear message, the cluster byte-for-byte unchanged', async (_n, breakIt, message) => {
    useSecondCreds(w);
    breakIt(w);
    const before = await snapshotNamespaces([ok]);
    const r = await w.rotate();
    expect(r.code).toBe(1);
    expect(r.text).toMatch(message);
    expect(await snapshotNamespaces([ok])).toBe(before);
  });

  it('a bad config: exit 2, every problem listed, nothing contacted', async () => {
    const w2 = new Workspace();
    w2.writeConfig({ stores: { local: { type: 'file' } }, targets: [{ name: 'BAD', store: 'nope' }] });
    const before = await snapshotNamespaces([ok]);
    const r = await w2.rotate();
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/stores\.local\.path: required/);
    expect(r.stderr).toMatch(/targets\[0\]\.name: /);
    expect(r.stderr).toMatch(/targets\[0\]\.credentials: required/);
    expect(await snapshotNamespaces([ok])).toBe(before);
  });
});
