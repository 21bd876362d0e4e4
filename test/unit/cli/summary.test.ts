import { describe, expect, it } from 'vitest';
import { keepForSummary, renderSummary, summaryFields, TABLE_ROWS } from '../../../src/cli/summary.ts';
import { FakeCluster } from '../helpers/fake-cluster.ts';
import { engineConfig, FakeStore, run } from '../helpers/engine.ts';

describe('the summary of a big run', () => {
  it('keeps TABLE_ROWS rows for the table and the failed ones, and says how many more there are', async () => {
    const c = new FakeCluster();
    const n = TABLE_ROWS + 40;
    for (let i = 0; i < n; i++) {
      c.addNamespace(`ns-${i}`, { sel: 'yes' });
      c.addSa(`ns-${i}`, 'default');
    }
    c.unreadable.add('ns-7');
    const store = new FakeStore();
    store.set('user', 'robot');
    store.set('pass', 'pw');
    const config = engineConfig({}, { namespaces: { selector: 'sel=yes' } });
    const s = await run(c, store, config, undefined, false, keepForSummary(true, false));
    expect(s.namespaces).toHaveLength(TABLE_ROWS + 1); // the rows, and the failed one
    const text = renderSummary(s, s.namespaces, false);
    expect(text.split('\n').filter((l) => l.includes(' provisioned '))).toHaveLength(TABLE_ROWS - 1);
    expect(text).toContain(`… and ${n - TABLE_ROWS} more`);
    expect(text).toContain(`${n} namespace results (${n - 1} provisioned, 1 failed)`);
    expect(summaryFields(s)['failed']).toEqual([
      {
        target: 'acr',
        namespace: 'ns-7',
        error: { code: 'KUBE_FORBIDDEN', message: 'secrets in ns-7 is forbidden' },
      },
    ]);

    const quiet = await run(c, store, config, undefined, false, keepForSummary(false, false));
    expect(quiet.namespaces.map((r) => r.namespace)).toEqual(['ns-7']);
    expect(quiet.tally.total).toBe(n);
  });
});
