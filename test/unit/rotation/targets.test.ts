import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../../src/config/load.ts';
import { selectNamespaces } from '../../../src/rotation/targets.ts';

const target = (namespaces: Record<string, unknown>) =>
  validateConfig(
    {
      stores: { s: { type: 'file', path: '.' } },
      targets: [{ name: 't', store: 's', registry: 'r.io', credentials: { json: { key: 'k' } }, namespaces }],
    },
    'c.yaml',
  ).targets[0]!;

const all = [
  { name: 'web-prod', labels: { team: 'web' }, terminating: false },
  { name: 'web-dev', labels: { team: 'web' }, terminating: false },
  { name: 'api', labels: { team: 'api' }, terminating: false },
  { name: 'kube-system', labels: { team: 'web' }, terminating: false },
  { name: 'old', labels: { team: 'web' }, terminating: true },
];

describe('selectNamespaces', () => {
  it('names and selector are a union; exclude applies last; terminating are skipped with a note', () => {
    const s = selectNamespaces(
      target({ names: ['api', 'ghost'], selector: 'team=web', exclude: ['kube-*', '*-dev'] }),
      all,
    );
    expect(s.namespaces).toEqual(['api', 'web-prod']);
    expect(s.skipped).toEqual([
      { namespace: 'ghost', reason: 'namespace not found' },
      { namespace: 'old', reason: 'namespace is terminating' },
    ]);
  });
  it('-n limits the run', () => {
    expect(selectNamespaces(target({ selector: 'team=web' }), all, new Set(['web-dev'])).namespaces).toEqual([
      'web-dev',
    ]);
  });
});
