import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/base/logger.ts';
import { RotatorError } from '../../../src/errors.ts';
import type { RawObject } from '../../../src/kube/convert.ts';
import { Reactor } from '../../../src/scheduler/reactor.ts';
import { desired } from '../helpers/builders.ts';
import { engineConfig } from '../helpers/engine.ts';
import { FakeCluster } from '../helpers/fake-cluster.ts';

const nsRaw = (name: string, labels: Record<string, string> = {}): RawObject => ({
  metadata: { name, labels },
});
const saRaw = (namespace: string, name: string, pulls: string[] = []): RawObject => {
  const sa: RawObject & { imagePullSecrets: { name: string }[] } = {
    metadata: { namespace, name, uid: `sa-${name}`, resourceVersion: '1' },
    imagePullSecrets: pulls.map((n) => ({ name: n })),
  };
  return sa;
};

/** A reactor over a fake cluster, for a target selecting `team=a`; `converged` lists what it converged. */
function setup(only?: string[]) {
  const cluster = new FakeCluster();
  const converged: string[] = [];
  let idle: () => void = () => undefined;
  const reactor = new Reactor({
    config: engineConfig({}, { namespaces: { selector: 'team=a' } }),
    gateway: cluster,
    rest: undefined as never,
    logger: silentLogger(),
    beforeWrite: async () => undefined,
    idle: async () => idle(),
    converged: (ns) => converged.push(ns),
    only,
  });
  const settled = () => new Promise<void>((r) => ((idle = r), setTimeout(r, 200)));
  const sinks = reactor.sinks();
  /** A namespace in the cluster (with its default ServiceAccount) and its watch event. */
  const addNamespace = (name: string, labels: Record<string, string>) => {
    cluster.addNamespace(name, labels);
    cluster.addSa(name, 'default');
  };
  return { cluster, converged, reactor, sinks, settled, addNamespace };
}

describe('Reactor', () => {
  it('converges a namespace whose ServiceAccount event came before the namespace watch listed it', async () => {
    const { cluster, converged, reactor, sinks, settled, addNamespace } = setup();
    reactor.setDesired([desired()], new Set());
    addNamespace('late', { team: 'a' });
    sinks.serviceAccounts.event('ADDED', saRaw('late', 'default'));
    await settled();
    expect(converged).toEqual([]); // the model cannot tell yet whether `late` is covered
    sinks.namespaces.synced([nsRaw('late', { team: 'a' })]);
    await settled();
    expect(converged).toEqual(['late']);
    expect(cluster.sas.get('late/default')?.imagePullSecrets).toEqual(['regcred-new']);
  });

  it('converges namespaces the watch knows that the full pass did not observe, and only those', async () => {
    const { converged, reactor, sinks, settled, addNamespace } = setup();
    addNamespace('seen', { team: 'a' });
    addNamespace('between', { team: 'a' });
    addNamespace('other', { team: 'b' });
    sinks.namespaces.synced([
      nsRaw('seen', { team: 'a' }),
      nsRaw('between', { team: 'a' }),
      nsRaw('other', { team: 'b' }),
    ]);
    reactor.setDesired([desired()], new Set(['seen']));
    await settled();
    expect(converged).toEqual(['between']);
  });

  it('on the first namespace list after a pass, converges only what the pass did not see', async () => {
    const { converged, reactor, sinks, settled, addNamespace } = setup();
    addNamespace('seen', { team: 'a' });
    addNamespace('created-since', { team: 'a' });
    reactor.setDesired([desired()], new Set(['seen']));
    sinks.namespaces.synced([nsRaw('seen', { team: 'a' }), nsRaw('created-since', { team: 'a' })]);
    await settled();
    expect(converged).toEqual(['created-since']);
  });

  it('converges a namespace when it starts matching, not on unrelated label changes', async () => {
    const { converged, reactor, sinks, settled, addNamespace } = setup();
    addNamespace('web', {});
    sinks.namespaces.synced([nsRaw('web')]);
    reactor.setDesired([desired()], new Set());
    sinks.namespaces.event('MODIFIED', nsRaw('web', { owner: 'x' }));
    await settled();
    expect(converged).toEqual([]);
    sinks.namespaces.event('MODIFIED', nsRaw('web', { owner: 'x', team: 'a' }));
    await settled();
    expect(converged).toEqual(['web']);
    sinks.namespaces.event('MODIFIED', nsRaw('web', { owner: 'y', team: 'a' }));
    await settled();
    expect(converged).toEqual(['web']);
  });

  it('retries a convergence the API server refused, with backoff, until it succeeds', async () => {
    const { cluster, converged, reactor, sinks, addNamespace } = setup();
    addNamespace('busy', { team: 'a' });
    sinks.namespaces.synced([nsRaw('busy', { team: 'a' })]);
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
    const { converged, reactor, sinks, settled, addNamespace } = setup(['mine']);
    addNamespace('mine', { team: 'a' });
    addNamespace('theirs', { team: 'a' });
    sinks.namespaces.synced([nsRaw('mine', { team: 'a' }), nsRaw('theirs', { team: 'a' })]);
    reactor.setDesired([desired()], new Set());
    await settled();
    expect(converged).toEqual(['mine']);
  });
});
