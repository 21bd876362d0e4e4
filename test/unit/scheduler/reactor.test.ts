import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/base/logger.ts';
import { RotatorError } from '../../../src/errors.ts';
import type { NamespaceObject } from '../../../src/kube/types.ts';
import { Reactor } from '../../../src/scheduler/reactor.ts';
import { desired, secret } from '../helpers/builders.ts';
import { engineConfig } from '../helpers/engine.ts';
import { FakeCluster } from '../helpers/fake-cluster.ts';

const nsObj = (name: string, labels: Record<string, string> = {}): NamespaceObject => ({
  name,
  labels,
  terminating: false,
});

/**
 * A reactor over a fake cluster, for a target selecting `team=a`, its watches at the gateway seam (they
 * list when started; events come from the fake's writes and from `cluster.notify`); `converged` lists
 * what it converged.
 */
function setup(only?: string[]) {
  const cluster = new FakeCluster();
  const converged: string[] = [];
  let idle: () => void = () => undefined;
  const reactor = new Reactor({
    config: engineConfig({}, { namespaces: { selector: 'team=a' } }),
    gateway: cluster,
    logger: silentLogger(),
    beforeWrite: async () => undefined,
    idle: async () => idle(),
    converged: (ns) => converged.push(ns),
    only,
  });
  const settled = () => new Promise<void>((r) => ((idle = r), setTimeout(r, 200)));
  const stop = new AbortController();
  const start = () => void reactor.start(stop.signal);
  /** A namespace in the cluster, with its default ServiceAccount (no watch hears of it yet). */
  const addNamespace = (name: string, labels: Record<string, string>) => {
    cluster.addNamespace(name, labels);
    return cluster.addSa(name, 'default');
  };
  return { cluster, converged, reactor, settled, start, stop, addNamespace };
}

describe('Reactor', () => {
  it('converges a namespace whose ServiceAccount event came before the namespace watch listed it', async () => {
    const { cluster, converged, reactor, settled, start, addNamespace } = setup();
    start();
    reactor.setDesired([desired()], new Set());
    const sa = addNamespace('late', { team: 'a' });
    cluster.notify('serviceaccounts', 'ADDED', sa);
    await settled();
    expect(converged).toEqual([]); // the model cannot tell yet whether `late` is covered
    cluster.relist('namespaces');
    await settled();
    expect(converged).toEqual(['late']);
    expect(cluster.sas.get('late/default')?.imagePullSecrets).toEqual(['regcred-new']);
  });

  it('converges namespaces the watch knows that the full pass did not observe, and only those', async () => {
    const { converged, reactor, settled, start, addNamespace } = setup();
    addNamespace('seen', { team: 'a' });
    addNamespace('between', { team: 'a' });
    addNamespace('other', { team: 'b' });
    start();
    reactor.setDesired([desired()], new Set(['seen']));
    await settled();
    expect(converged).toEqual(['between']);
  });

  it('on the first namespace list after a pass, converges only what the pass did not see', async () => {
    const { cluster, converged, reactor, settled, start, addNamespace } = setup();
    addNamespace('seen', { team: 'a' });
    addNamespace('created-since', { team: 'a' });
    // The pass converged `seen`: its ServiceAccount and secret are as desired.
    cluster.addSa('seen', 'default', ['regcred-new']);
    cluster.addSecret({ ...secret('regcred-new', { data: desired().dataB64.reveal() }), namespace: 'seen' });
    reactor.setDesired([desired()], new Set(['seen']));
    start();
    await settled();
    // Each first list (namespaces, ServiceAccounts, secrets) shows created-since out of place.
    expect([...new Set(converged)]).toEqual(['created-since']);
  });

  it('converges a namespace when it starts matching, not on unrelated label changes', async () => {
    const { cluster, converged, reactor, settled, start, addNamespace } = setup();
    addNamespace('web', {});
    start();
    reactor.setDesired([desired()], new Set());
    cluster.notify('namespaces', 'MODIFIED', nsObj('web', { owner: 'x' })); // not selected: not sent
    await settled();
    expect(converged).toEqual([]);
    // Starting to match a label-selected watch arrives as ADDED, later changes as MODIFIED.
    cluster.notify('namespaces', 'ADDED', nsObj('web', { owner: 'x', team: 'a' }));
    await settled();
    expect(converged).toEqual(['web']);
    cluster.notify('namespaces', 'MODIFIED', nsObj('web', { owner: 'y', team: 'a' }));
    await settled();
    expect(converged).toEqual(['web']);
  });

  it('knows only the namespaces its targets select; one that stops matching is forgotten', async () => {
    const { cluster, reactor, settled, start, addNamespace } = setup();
    for (let i = 0; i < 5; i++) addNamespace(`other-${i}`, { team: 'b' });
    addNamespace('mine', { team: 'a' });
    start();
    reactor.setDesired([desired()], new Set(['mine']));
    await settled();
    expect([...reactor.model.namespaces.keys()]).toEqual(['mine']);
    // The API server reports a namespace leaving a label-selected watch as DELETED.
    cluster.notify('namespaces', 'DELETED', nsObj('mine', {}));
    expect([...reactor.model.namespaces.keys()]).toEqual([]);
  });

  it('repairs drift the watches report: an entry removed from a ServiceAccount, our secret deleted', async () => {
    const { cluster, converged, reactor, settled, start, addNamespace } = setup();
    addNamespace('web', { team: 'a' });
    start();
    reactor.setDesired([desired()], new Set());
    await settled();
    expect(converged).toEqual(['web']);
    // Someone empties the ServiceAccount's list (as `kubectl edit` would): the watch says so.
    const sa = cluster.sas.get('web/default')!;
    cluster.sas.set('web/default', { ...sa, imagePullSecrets: [], resourceVersion: cluster.nextRv() });
    cluster.notify('serviceaccounts', 'MODIFIED', cluster.sas.get('web/default')!);
    await settled();
    expect(converged).toEqual(['web', 'web']);
    expect(cluster.sas.get('web/default')?.imagePullSecrets).toEqual(['regcred-new']);
    const secret = cluster.secrets.get('web/regcred-new')!;
    cluster.secrets.delete('web/regcred-new');
    cluster.notify('secrets', 'DELETED', secret);
    await settled();
    expect(converged).toEqual(['web', 'web', 'web']);
    expect(cluster.secrets.has('web/regcred-new')).toBe(true);
  });

  it('a relisted ServiceAccount page converges the namespaces it shows drifted', async () => {
    const { cluster, converged, reactor, settled, start, addNamespace } = setup();
    addNamespace('web', { team: 'a' });
    addNamespace('api', { team: 'a' });
    start();
    reactor.setDesired([desired()], new Set(['web', 'api']));
    await settled();
    expect(converged).toEqual([]); // the pass converged them
    cluster.relist('serviceaccounts'); // both lack the secret: the relist shows it
    await settled();
    expect(converged.sort()).toEqual(['api', 'web']);
  });

  it('retries a convergence the API server refused, with backoff, until it succeeds', async () => {
    const { cluster, converged, reactor, start, addNamespace } = setup();
    addNamespace('busy', { team: 'a' });
    start();
    let refused = 0;
    cluster.beforeWrite = () => {
      if (refused++ < 1) throw new RotatorError('KUBE_UNAVAILABLE', 'throttled by the API server (429)');
    };
    reactor.setDesired([desired()], new Set());
    const deadline = Date.now() + 5000;
    while (converged.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(converged).toEqual(['busy', 'busy']);
    expect(cluster.sas.get('busy/default')?.imagePullSecrets).toEqual(['regcred-new']);
  });

  it('with -n, reacts only in the named namespaces', async () => {
    const { converged, reactor, settled, start, addNamespace } = setup(['mine']);
    addNamespace('mine', { team: 'a' });
    addNamespace('theirs', { team: 'a' });
    start();
    reactor.setDesired([desired()], new Set());
    await settled();
    expect(converged).toEqual(['mine']);
  });

  it('a pod listing an earlier name of ours that is missing: its namespace converged with its pods, the name created again (once per pod)', async () => {
    const { cluster, converged, reactor, settled, start, addNamespace } = setup();
    const d = desired({ name: 'regcred-00000000aa', revisionId: '00000000aa' });
    addNamespace('web', { team: 'a' });
    start();
    reactor.setDesired([d], new Set());
    await settled();
    expect(converged).toEqual(['web']);
    // Admitted with the name a rotation was replacing (the ServiceAccount now lists the new one).
    const p = cluster.addPodUnder('web', 'web-1', 'default', 'Pending');
    p.imagePullSecrets = ['regcred-00000000bb'];
    const state = {
      namespace: 'web',
      name: 'web-1',
      uid: 'pod-1',
      phase: 'Pending',
      serviceAccountName: 'default',
      imagePullSecrets: p.imagePullSecrets,
      owner: 'ReplicaSet/web',
      deleting: false,
      annotations: {},
      waiting: [],
    };
    reactor.podSeen('ADDED', { ...state, imagePullSecrets: ['regcred-00000000aa'] }); // the current name: nothing
    reactor.podSeen('ADDED', { ...state, namespace: 'elsewhere' }); // not covered: nothing
    await settled();
    expect(converged).toEqual(['web']);
    reactor.podSeen('ADDED', state);
    reactor.podSeen('MODIFIED', state); // the same pod again: no second convergence
    await settled();
    expect(converged).toEqual(['web', 'web']);
    const revived = cluster.secrets.get('web/regcred-00000000bb');
    expect(revived?.data).toEqual({ '.dockerconfigjson': d.dataB64.reveal() });
    expect(revived?.labels['regcred-rotator.io/target']).toBe('acr');
    reactor.podSeen('DELETED', state);
    reactor.podSeen('ADDED', state); // forgotten once gone: a later pod of that uid is looked at again
    await settled();
    expect(converged).toEqual(['web', 'web', 'web']);
  });
});
