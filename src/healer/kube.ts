import type { Target } from '../config/types.ts';
import { KubeCaller } from '../kube/caller.ts';
import { toPodState } from '../kube/convert.ts';
import type { KubeGateway } from '../kube/gateway.ts';
import { one } from '../kube/paths.ts';
import type { NamespaceObject, PodState } from '../kube/types.ts';
import { selectNamespaces } from '../rotation/batch/scope.ts';
import type { TargetState } from './decide.ts';
import type { HealerCluster } from './healer.ts';

/** Pods: the healer's own reads and its one write, over the engine's request machinery. */
class PodCalls extends KubeCaller {
  async pending(namespaces: readonly string[]): Promise<PodState[]> {
    const query = { fieldSelector: 'status.phase=Pending' };
    const want = new Set(namespaces);
    if (namespaces.length > 8) {
      const all = await this.list({ verb: 'list', resource: 'pods' }, '/api/v1/pods', query, toPodState);
      return all.filter((p) => want.has(p.namespace));
    }
    const out: PodState[] = [];
    for (const ns of namespaces)
      out.push(
        ...(await this.list(
          { verb: 'list', resource: 'pods', namespace: ns },
          `/api/v1/namespaces/${encodeURIComponent(ns)}/pods`,
          query,
          toPodState,
        )),
      );
    return out;
  }

  async remove(namespace: string, name: string, uid: string): Promise<void> {
    await this.call(
      { verb: 'delete', resource: 'pods', namespace, name },
      {
        method: 'DELETE',
        path: one('pods', namespace, name),
        body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid } },
      },
    );
  }
}

export interface HealerClusterDeps {
  gateway: KubeGateway;
  /** The request machinery (rest + logger) the pod calls go through. */
  caller: ConstructorParameters<typeof KubeCaller>;
  targets: readonly Target[];
  /** The current name per target (a full pass's desired secrets, or a run's results). */
  names: () => ReadonlyMap<string, { name: string; serviceAccounts: readonly string[] | '*' }>;
  /** A namespace the caller already knows (a watch), else it is read. */
  knownNamespace?: ((name: string) => NamespaceObject | undefined) | undefined;
}

/** The real HealerCluster: the engine's gateway for ServiceAccounts and our Secrets, own calls for pods. */
export function healerCluster(d: HealerClusterDeps): HealerCluster {
  const pods = new PodCalls(...d.caller);
  return {
    async covering(namespace) {
      const ns = d.knownNamespace?.(namespace) ?? (await d.gateway.getNamespace(namespace));
      if (!ns) return [];
      const names = d.names();
      const out: TargetState['covering'] = [];
      for (const t of d.targets) {
        const n = names.get(t.name);
        if (n && selectNamespaces(t, [ns]).namespaces.length === 1)
          out.push({ target: t.name, secretBase: t.secretName, serviceAccounts: n.serviceAccounts });
      }
      return out;
    },
    async serviceAccount(namespace, name) {
      return d.gateway.getServiceAccount(namespace, name);
    },
    async ourSecrets(namespace, targets) {
      return new Set((await d.gateway.listManagedSecrets([namespace], targets)).map((s) => s.name));
    },
    pendingPods: (namespaces) => pods.pending(namespaces),
    deletePod: (namespace, name, uid) => pods.remove(namespace, name, uid),
  };
}
