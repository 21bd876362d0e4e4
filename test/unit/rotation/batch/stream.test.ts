import { describe, expect, it } from 'vitest';
import { RotatorError } from '../../../../src/errors.ts';
import { storageOrder, type ListChunk } from '../../../../src/kube/gateway.ts';
import { TARGET_LABEL } from '../../../../src/kube/labels.ts';
import { ListCursor } from '../../../../src/rotation/batch/stream.ts';
import { FakeCluster } from '../../helpers/fake-cluster.ts';
import { engineConfig, FakeStore, run } from '../../helpers/engine.ts';

type Item = { namespace: string; name: string };

async function* chunks(...cs: ListChunk<Item>[]) {
  for (const c of cs) yield c;
}
const items = (...xs: string[]): Item[] =>
  xs.map((x) => {
    const [namespace = '', name = ''] = x.split('/');
    return { namespace, name };
  });

describe('storage order', () => {
  it('is the order of "<namespace>/" keys, not of names: team-a comes before team', () => {
    expect(['team', 'team-a', 'a', 'team.b'].sort(storageOrder)).toEqual(['a', 'team-a', 'team.b', 'team']);
  });
});

describe('ListCursor', () => {
  it('hands over a namespace only once the list has passed it, across chunk boundaries', async () => {
    let reads = 0;
    async function* source() {
      for (const c of [items('a/1', 'b/1'), items('b/2', 'b/3'), items('c/1')]) {
        reads++;
        yield { items: c };
      }
    }
    const cursor = new ListCursor(source(), 'things');
    expect((await cursor.take('a')).map((i) => i.name)).toEqual(['1']);
    expect(reads).toBe(2); // the first chunk, and the next one on its way
    expect((await cursor.take('b')).map((i) => i.name)).toEqual(['1', '2', '3']);
    expect(reads).toBe(3); // b is complete only once c/1 arrived
    expect(await cursor.take('bb')).toEqual([]); // not in the list: nothing, and no error
    expect((await cursor.take('c')).map((i) => i.name)).toEqual(['1']);
    expect(cursor.done).toBe(true);
  });

  it('drops what lies between the namespaces asked for', async () => {
    const cursor = new ListCursor(chunks({ items: items('a/1', 'b/1', 'c/1', 'd/1') }), 'things');
    expect(await cursor.take('a')).toHaveLength(1);
    expect((await cursor.take('c')).map((i) => `${i.namespace}/${i.name}`)).toEqual(['c/1']);
  });

  it('per-namespace chunks: an empty one proves the namespace empty; an unreadable one throws for it only', async () => {
    const denied = new RotatorError('KUBE_FORBIDDEN', 'secrets in b is forbidden');
    let reads = 0;
    async function* source(): AsyncGenerator<ListChunk<Item>> {
      for (const c of [
        { items: [], complete: 'a' },
        { items: [], complete: 'b', unreadable: denied },
        { items: items('c/1'), complete: 'c' },
      ]) {
        reads++;
        yield c;
      }
    }
    const cursor = new ListCursor(source(), 'secrets');
    expect(await cursor.take('a')).toEqual([]);
    expect(reads).toBe(2); // "complete: a" is enough; only the next chunk is on its way
    await expect(cursor.take('b')).rejects.toBe(denied);
    expect(await cursor.take('c')).toHaveLength(1);
  });

  it('a list that fails mid-way fails every namespace after it (never an empty view)', async () => {
    async function* source(): AsyncGenerator<ListChunk<Item>> {
      yield { items: items('a/1') };
      throw new RotatorError('KUBE_UNAVAILABLE', 'list secrets: cannot reach the API server');
    }
    const cursor = new ListCursor(source(), 'secrets');
    await expect(cursor.take('a')).rejects.toThrow('cannot reach');
    await expect(cursor.take('b')).rejects.toThrow('cannot reach');
  });

  it('refuses a list that goes back in namespace order', async () => {
    const cursor = new ListCursor(chunks({ items: items('b/1') }, { items: items('a/1') }), 'secrets');
    await expect(cursor.take('b')).rejects.toThrow('out of namespace order (a after b)');
  });
});

describe('a run over streamed lists', () => {
  function cluster(n: number): { c: FakeCluster; store: FakeStore } {
    const c = new FakeCluster();
    // Names whose storage order differs from name order, so a wrong join would pair the wrong lists.
    for (let i = 0; i < n; i++) {
      const ns = i % 2 === 0 ? `team-${i}` : `team-${i - 1}-x`;
      c.addNamespace(ns, { sel: 'yes' });
      c.addSa(ns, 'default');
      c.addSa(ns, 'builder');
    }
    const store = new FakeStore();
    store.set('user', 'robot');
    store.set('pass', 'pw-1');
    return { c, store };
  }
  const config = (over: Record<string, unknown> = {}) =>
    engineConfig(
      { rotation: { concurrency: 3 }, ...over },
      { namespaces: { selector: 'sel=yes' }, serviceAccounts: ['*'] },
    );

  it('converges every namespace from 1-item chunks, rotating and deleting after the pod pass', async () => {
    const { c, store } = cluster(12);
    c.chunkSize = 1;
    await run(c, store, config());
    c.addPodUnder('team-4', 'app', 'default'); // holds the first secret
    store.set('pass', 'pw-2');
    const s = await run(c, store, config());
    expect(s.tally.total).toBe(12);
    expect(s.tally.outcomeCounts()).toEqual({ rotated: 12 });
    for (const ns of c.namespaces.keys()) {
      const ours = [...c.secrets.values()].filter((x) => x.namespace === ns && x.labels[TARGET_LABEL]);
      expect(ours, ns).toHaveLength(ns === 'team-4' ? 2 : 1);
      for (const name of ['default', 'builder'])
        expect(c.sas.get(FakeCluster.key(ns, name))?.imagePullSecrets, ns).toEqual([s.targets[0]?.secret]);
    }
    expect(s.namespaces.find((r) => r.namespace === 'team-4')?.kept[0]?.reason).toMatch(/1 live pod/);
  });

  it('a namespace it may not read fails alone; the others converge', async () => {
    const { c, store } = cluster(6);
    c.unreadable.add('team-2');
    const s = await run(c, store, config());
    expect(s.tally.failed).toBe(1);
    expect(s.namespaces.find((r) => r.outcome === 'failed')).toMatchObject({
      namespace: 'team-2',
      error: { code: 'KUBE_FORBIDDEN' },
    });
    expect(s.tally.outcomeCounts()).toEqual({ provisioned: 5, failed: 1 });
    expect([...c.secrets.values()].filter((x) => x.namespace === 'team-2')).toEqual([]);
  });

  it('keeps only the results asked for, and counts all of them', async () => {
    const { c, store } = cluster(8);
    const s = await run(c, store, config(), undefined, false, (r) => r.namespace === 'team-0');
    expect(s.namespaces.map((r) => r.namespace)).toEqual(['team-0']);
    expect(s.tally.total).toBe(8);
    expect(s.writes).toBe(8 * 3); // a create and two repoints each
    expect(s.tally.actions).toEqual(
      new Map([
        ['create', new Map([['ok', 8]])],
        ['repoint', new Map([['ok', 16]])],
      ]),
    );
  });

  it('pass 2 decides deletions on the ServiceAccounts as they are then, not as pass 1 left them', async () => {
    const { c, store } = cluster(4);
    const only = engineConfig(
      { rotation: { concurrency: 1 } },
      { namespaces: { selector: 'sel=yes' }, serviceAccounts: ['default'] },
    );
    await run(c, store, only);
    const first = [...c.secrets.values()].find((x) => x.namespace === 'team-2')?.name ?? '';
    store.set('pass', 'pw-2');
    // After pass 1's last write (a create and a repoint per namespace), someone points team-2's builder
    // (not ours to repoint) at the first secret: deleting it now would leave that reference dangling.
    const before = c.writes;
    c.afterWrite = (cl) => {
      if (cl.writes !== before + 4 * 2) return;
      const sa = cl.sas.get(FakeCluster.key('team-2', 'builder'));
      if (sa)
        cl.sas.set(FakeCluster.key('team-2', 'builder'), {
          ...sa,
          imagePullSecrets: [first],
          resourceVersion: cl.nextRv(),
        });
    };
    const s = await run(c, store, only);
    expect(c.secrets.has(FakeCluster.key('team-2', first))).toBe(true);
    expect(s.namespaces.find((r) => r.namespace === 'team-2')?.kept).toEqual([
      { name: first, reason: 'referenced by serviceaccount builder', current: true },
    ]);
    for (const ns of ['team-0', 'team-0-x', 'team-2-x'])
      expect([...c.secrets.values()].filter((x) => x.namespace === ns).map((x) => x.name)).not.toContain(
        first,
      );
  });
});
