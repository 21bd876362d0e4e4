import { isRotatorError, RotatorError } from '../errors.ts';
import type { KubeGateway } from '../kube/gateway.ts';

/**
 * This cluster's id in fleet ledgers when the config names none: the UID of its `kube-system` namespace,
 * which every cluster has, never changes for the cluster's life, and differs between clusters.
 */
export async function clusterIdOf(gateway: Pick<KubeGateway, 'getNamespace'>): Promise<string> {
  const ns = await gateway.getNamespace('kube-system').catch((e: unknown) => {
    if (isRotatorError(e, 'KUBE_FORBIDDEN'))
      throw new RotatorError(
        'CONFIG_INVALID',
        "fleet: may not read namespace kube-system to derive this cluster's id; set fleet.clusterId",
        { cause: e },
      );
    throw e;
  });
  if (!ns?.uid)
    throw new RotatorError(
      'CONFIG_INVALID',
      'fleet: namespace kube-system has no UID here; set fleet.clusterId',
    );
  return ns.uid.toLowerCase();
}
