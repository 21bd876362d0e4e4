import { hostname } from 'node:os';
import { PatchStrategy, setHeaderOptions, type CoreV1Event, type V1Secret } from '@kubernetes/client-node';
import { isRotatorError } from '../errors.ts';
import { KubeCaller, PAGE } from './caller.ts';
import type {
  EventGateway,
  EventInput,
  EventRecord,
  InspectGateway,
  KubeGateway,
  LeaseGateway,
  LeaseRecord,
  LeaseSpec,
  NamespaceScope,
} from './gateway.ts';

export { listClusterWide, type RequestCounts } from './caller.ts';
import { leaseBody, toEvent, toLease, toNamespace, toPod, toSecret, toServiceAccount } from './convert.ts';
import { MANAGED_SELECTOR, TARGET_LABEL } from './labels.ts';
import type {
  NamespaceObject,
  NewSecret,
  PodObject,
  SecretObject,
  SecretUpdate,
  ServiceAccountObject,
} from './types.ts';

const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** The real gateway: the cluster operations of KubeGateway and friends, on client-node. */
export class K8sGateway
  extends KubeCaller
  implements KubeGateway, LeaseGateway, EventGateway, InspectGateway
{
  async listNamespaces(labelSelector?: string): Promise<NamespaceObject[]> {
    return this.paginate(
      { verb: 'list', resource: 'namespaces' },
      (cont) => this.k.core.listNamespace({ labelSelector, limit: PAGE, _continue: cont }),
      toNamespace,
    );
  }

  /** How many namespaces the cluster has, from a one-item list (undefined if the server does not say). */
  async estimateNamespaceCount(): Promise<number | undefined> {
    const r = await this.call({ verb: 'list', resource: 'namespaces' }, () =>
      this.k.core.listNamespace({ limit: 1 }),
    );
    const more = r.metadata?.remainingItemCount;
    this.clusterNamespaces =
      more === undefined ? (r.metadata?._continue ? undefined : r.items.length) : r.items.length + more;
    return this.clusterNamespaces;
  }

  async getNamespace(name: string): Promise<NamespaceObject | undefined> {
    try {
      return toNamespace(
        await this.call({ verb: 'get', resource: 'namespaces', name }, () =>
          this.k.core.readNamespace({ name }),
        ),
      );
    } catch (e) {
      if (isRotatorError(e, 'KUBE_NOT_FOUND')) return undefined;
      throw e;
    }
  }

  async listManagedSecrets(scope: NamespaceScope, targets?: readonly string[]): Promise<SecretObject[]> {
    // Only this config's targets, filtered by the server: other installs' secrets are not our business.
    const labelSelector = targets?.length
      ? `${MANAGED_SELECTOR},${TARGET_LABEL} in (${targets.join(',')})`
      : MANAGED_SELECTOR;
    return this.scoped(
      'secrets',
      scope,
      (cont) => this.k.core.listSecretForAllNamespaces({ labelSelector, limit: PAGE, _continue: cont }),
      (namespace, cont) =>
        this.k.core.listNamespacedSecret({ namespace, labelSelector, limit: PAGE, _continue: cont }),
      (s) => s.metadata?.namespace ?? '',
      toSecret,
    );
  }

  async listServiceAccounts(scope: NamespaceScope): Promise<ServiceAccountObject[]> {
    return this.scoped(
      'serviceaccounts',
      scope,
      (cont) => this.k.core.listServiceAccountForAllNamespaces({ limit: PAGE, _continue: cont }),
      (namespace, cont) =>
        this.k.core.listNamespacedServiceAccount({ namespace, limit: PAGE, _continue: cont }),
      (s) => s.metadata?.namespace ?? '',
      toServiceAccount,
    );
  }

  async listPods(scope: NamespaceScope): Promise<PodObject[]> {
    return this.scoped(
      'pods',
      scope,
      (cont) => this.k.core.listPodForAllNamespaces({ limit: PAGE, _continue: cont }),
      (namespace, cont) => this.k.core.listNamespacedPod({ namespace, limit: PAGE, _continue: cont }),
      (p) => p.metadata?.namespace ?? '',
      toPod,
    );
  }

  async getSecret(namespace: string, name: string): Promise<SecretObject | undefined> {
    try {
      return toSecret(
        await this.call({ verb: 'get', resource: 'secrets', namespace, name }, () =>
          this.k.core.readNamespacedSecret({ namespace, name }),
        ),
      );
    } catch (e) {
      if (isRotatorError(e, 'KUBE_NOT_FOUND')) return undefined;
      throw e;
    }
  }

  async getServiceAccount(namespace: string, name: string): Promise<ServiceAccountObject | undefined> {
    try {
      return toServiceAccount(
        await this.call({ verb: 'get', resource: 'serviceaccounts', namespace, name }, () =>
          this.k.core.readNamespacedServiceAccount({ namespace, name }),
        ),
      );
    } catch (e) {
      if (isRotatorError(e, 'KUBE_NOT_FOUND')) return undefined;
      throw e;
    }
  }

  async createSecret(s: NewSecret): Promise<SecretObject> {
    const body: V1Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: s.name, namespace: s.namespace, labels: s.labels, annotations: s.annotations },
      type: 'kubernetes.io/dockerconfigjson',
      data: s.data,
    };
    return toSecret(
      await this.call({ verb: 'create', resource: 'secrets', namespace: s.namespace, name: s.name }, () =>
        this.k.core.createNamespacedSecret({ namespace: s.namespace, body }),
      ),
    );
  }

  async updateSecret(
    namespace: string,
    name: string,
    resourceVersion: string,
    update: SecretUpdate,
  ): Promise<SecretObject> {
    // A merge patch carrying metadata.resourceVersion is an optimistic-concurrency update: 409 if stale.
    const body = { metadata: { resourceVersion, annotations: update.annotations }, data: update.data };
    return toSecret(
      await this.call({ verb: 'patch', resource: 'secrets', namespace, name }, () =>
        this.k.core.patchNamespacedSecret({ namespace, name, body }, MERGE_PATCH),
      ),
    );
  }

  async deleteSecret(namespace: string, name: string, uid: string, resourceVersion: string): Promise<void> {
    await this.call({ verb: 'delete', resource: 'secrets', namespace, name }, () =>
      this.k.core.deleteNamespacedSecret({
        namespace,
        name,
        body: { preconditions: { uid, resourceVersion } },
      }),
    );
  }

  async setImagePullSecrets(
    namespace: string,
    name: string,
    resourceVersion: string,
    names: readonly string[],
  ): Promise<ServiceAccountObject> {
    // imagePullSecrets is an atomic list (F1): a merge patch replaces it whole, which is what we want, and
    // metadata.resourceVersion in the patch makes it conditional on what we read.
    const body = { metadata: { resourceVersion }, imagePullSecrets: names.map((n) => ({ name: n })) };
    return toServiceAccount(
      await this.call({ verb: 'patch', resource: 'serviceaccounts', namespace, name }, () =>
        this.k.core.patchNamespacedServiceAccount({ namespace, name, body }, MERGE_PATCH),
      ),
    );
  }

  async getLease(namespace: string, name: string): Promise<LeaseRecord | undefined> {
    try {
      return toLease(
        await this.call({ verb: 'get', resource: 'leases', namespace, name }, () =>
          this.k.coordination.readNamespacedLease({ namespace, name }),
        ),
      );
    } catch (e) {
      if (isRotatorError(e, 'KUBE_NOT_FOUND')) return undefined;
      throw e;
    }
  }

  async createLease(namespace: string, name: string, spec: LeaseSpec): Promise<LeaseRecord> {
    return toLease(
      await this.call({ verb: 'create', resource: 'leases', namespace, name }, () =>
        this.k.coordination.createNamespacedLease({ namespace, body: leaseBody(namespace, name, spec) }),
      ),
    );
  }

  async updateLease(
    namespace: string,
    name: string,
    resourceVersion: string,
    spec: LeaseSpec,
  ): Promise<LeaseRecord> {
    return toLease(
      await this.call({ verb: 'update', resource: 'leases', namespace, name }, () =>
        this.k.coordination.replaceNamespacedLease({
          namespace,
          name,
          body: leaseBody(namespace, name, spec, resourceVersion),
        }),
      ),
    );
  }

  async createEvent(e: EventInput): Promise<void> {
    const now = new Date();
    const body: CoreV1Event = {
      metadata: { generateName: `${e.involved.name}.`, namespace: e.namespace },
      involvedObject: {
        kind: e.involved.kind,
        name: e.involved.name,
        namespace: e.involved.namespace,
        uid: e.involved.uid,
        apiVersion: e.involved.apiVersion,
      },
      type: e.type,
      reason: e.reason,
      message: e.message.slice(0, 1024),
      source: { component: 'regcred-rotator' },
      reportingComponent: 'regcred-rotator',
      reportingInstance: hostname(),
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    await this.call({ verb: 'create', resource: 'events', namespace: e.namespace }, () =>
      this.k.core.createNamespacedEvent({ namespace: e.namespace, body }),
    );
  }

  async listEvents(namespace: string): Promise<EventRecord[]> {
    return this.paginate(
      { verb: 'list', resource: 'events', namespace },
      (cont) => this.k.core.listNamespacedEvent({ namespace, limit: PAGE, _continue: cont }),
      toEvent,
    );
  }

  async listSecretsIn(namespace: string): Promise<SecretObject[]> {
    return this.paginate(
      { verb: 'list', resource: 'secrets', namespace },
      (cont) => this.k.core.listNamespacedSecret({ namespace, limit: PAGE, _continue: cont }),
      toSecret,
    );
  }

  async listPullSecretsEverywhere(): Promise<SecretObject[]> {
    return this.paginate(
      { verb: 'list', resource: 'secrets' },
      (cont) =>
        this.k.core.listSecretForAllNamespaces({
          fieldSelector: 'type=kubernetes.io/dockerconfigjson',
          limit: PAGE,
          _continue: cont,
        }),
      toSecret,
    );
  }
}
