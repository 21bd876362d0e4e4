import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../../../src/config/load.ts';
import { selectNamespaces } from '../../../../src/rotation/batch/scope.ts';
import { observeNamespaces } from '../../../../src/rotation/batch/observe.ts';
import { RotatorError } from '../../../../src/errors.ts';
import { silentLogger } from '../../../../src/base/logger.ts';
import { FakeCluster } from '../../helpers/fake-cluster.ts';

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

describe('observeNamespaces without permission to read namespaces (the namespaced-Role install)', () => {
  const forbidden = () => new RotatorError('KUBE_FORBIDDEN', 'namespaces is forbidden: cannot "get"');
  const cluster = (denyGet: boolean, denyList: boolean) => {
    const c = new FakeCluster();
    c.addNamespace('team-a', { team: 'a' });
    c.addNamespace('team-b', { team: 'b' });
    if (denyGet) c.getNamespace = () => Promise.reject(forbidden());
    if (denyList) c.listNamespaces = () => Promise.reject(forbidden());
    return c;
  };
  const logger = silentLogger();

  it('uses named namespaces as named when it may not get them', async () => {
    const got = await observeNamespaces(cluster(true, true), [target({ names: ['team-a'] })], logger);
    expect(got).toEqual([{ name: 'team-a', labels: {}, terminating: false }]);
  });

  it('still evaluates a selector it may list, beside names it may not get', async () => {
    const got = await observeNamespaces(
      cluster(true, false),
      [target({ names: ['team-a'] }), target({ selector: 'team=b' })],
      logger,
    );
    expect(got.map((n) => n.name).sort()).toEqual(['team-a', 'team-b']);
  });

  it('a selector it may not list is an error naming the targets that use one', async () => {
    await expect(
      observeNamespaces(cluster(false, true), [target({ selector: 'team=b' })], logger),
    ).rejects.toThrow(/targets t use a namespace selector, which needs "list namespaces"/);
  });
});
