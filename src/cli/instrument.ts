import type { K8sGateway } from '../kube/k8s-gateway.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { StoreSet } from './runtime.ts';

/** Request metrics: every API server request and every store call from now on is counted and timed. */
export function instrument(metrics: Metrics, gateway: K8sGateway, stores: StoreSet): void {
  gateway.observeRequests((r) => metrics.kubeRequest(r));
  stores.observe((r) => metrics.storeRequest(r));
}
