import { isRotatorError } from '../errors.ts';
import {
  toNamespace,
  toPod,
  toPodState,
  toSecret,
  toServiceAccount,
  type RawList,
  type RawObject,
} from './convert.ts';
import type {
  KubeGateway,
  ListChunk,
  Listed,
  NamespaceScope,
  Watch,
  Watched,
  WatchHandlers,
  WatchScope,
} from './gateway.ts';
import { ResourceWatch, type WatchTarget } from './watch.ts';
import { K8sRecords } from './k8s-records.ts';
import { DOCKERCONFIGJSON_TYPE, managedSelector } from './labels.ts';
import { core, one } from './paths.ts';
import type {
  NamespaceObject,
  NewSecret,
  PodObject,
  SecretObject,
  SecretUpdate,
  ServiceAccountObject,
} from './types.ts';

const MERGE_PATCH = 'application/merge-patch+json';

/** How a watched object becomes one of our types. */
const WATCHED: { [K in keyof Watched]: (raw: RawObject) => Watched[K] } = {
  namespaces: toNamespace,
  serviceaccounts: toServiceAccount,
  secrets: toSecret,
  pods: toPodState,
};

const fieldSelector = (s: WatchScope): string | undefined =>
  [
    ...(s.name === undefined ? [] : [`metadata.name=${s.name}`]),
    ...(s.phase === undefined ? [] : [`status.phase=${s.phase}`]),
  ].join(',') || undefined;

export { listClusterWide, type RequestCounts } from './caller.ts';

/** The real gateway: the cluster operations of KubeGateway and friends, on the REST API. */
export class K8sGateway extends K8sRecords implements KubeGateway {
  async listNamespaces(labelSelector?: string): Promise<NamespaceObject[]> {
    return this.list(
      { verb: 'list', resource: 'namespaces' },
      '/api/v1/namespaces',
      { labelSelector },
      toNamespace,
    );
  }

  /**
   * How many namespaces the cluster has, from a one-item list. A hint only: undefined when the server does
   * not say, or when the rotator may not list namespaces.
   */
  async estimateNamespaceCount(): Promise<number | undefined> {
    const r = await this.call<RawList<unknown>>(
      { verb: 'list', resource: 'namespaces' },
      { method: 'GET', path: '/api/v1/namespaces', query: { limit: 1 } },
    ).catch((e: unknown) => {
      if (isRotatorError(e, 'KUBE_FORBIDDEN')) return undefined;
      throw e;
    });
    if (!r) return undefined;
    const more = r.metadata?.remainingItemCount;
    const items = r.items?.length ?? 0;
    this.clusterNamespaces = more === undefined ? (r.metadata?.continue ? undefined : items) : items + more;
    return this.clusterNamespaces;
  }

  async getNamespace(name: string): Promise<NamespaceObject | undefined> {
    return this.getOne(
      { verb: 'get', resource: 'namespaces', name },
      `/api/v1/namespaces/${encodeURIComponent(name)}`,
      toNamespace,
    );
  }

  async listManagedSecrets(scope: NamespaceScope, targets?: readonly string[]): Promise<SecretObject[]> {
    const labelSelector = managedSelector(targets);
    return this.scoped('secrets', scope, core('secrets'), { labelSelector }, toSecret);
  }

  async listServiceAccounts(scope: NamespaceScope): Promise<ServiceAccountObject[]> {
    return this.scoped('serviceaccounts', scope, core('serviceaccounts'), {}, toServiceAccount);
  }

  async listPods(scope: NamespaceScope): Promise<PodObject[]> {
    return this.scoped('pods', scope, core('pods'), {}, toPod);
  }

  chunks<K extends keyof Listed>(
    kind: K,
    scope: readonly string[],
    targets?: readonly string[],
  ): AsyncIterable<ListChunk<Listed[K]>> {
    const query = kind === 'secrets' ? { labelSelector: managedSelector(targets) } : {};
    const map = { secrets: toSecret, serviceaccounts: toServiceAccount, pods: toPod }[kind];
    return this.scopedChunks(kind, scope, core(kind), query, map as unknown as (item: never) => Listed[K]);
  }

  watch<K extends keyof Watched>(kind: K, scope: WatchScope, handlers: WatchHandlers<Watched[K]>): Watch {
    const where = scope.namespace === undefined ? '/api/v1' : `/api/v1/namespaces/${scope.namespace}`;
    const target: WatchTarget<Watched[K]> = {
      name: `${kind} ${where}${scope.labelSelector ? ` (${scope.labelSelector})` : ''}${scope.name ? ` (${scope.name})` : ''}`,
      path: core(kind)(scope.namespace),
      query: {
        labelSelector: kind === 'secrets' ? managedSelector(scope.targets) : scope.labelSelector,
        fieldSelector: fieldSelector(scope),
      },
      map: WATCHED[kind],
    };
    return new ResourceWatch(this.rest, target, handlers, this.log);
  }

  async getSecret(namespace: string, name: string): Promise<SecretObject | undefined> {
    return this.getOne(
      { verb: 'get', resource: 'secrets', namespace, name },
      one('secrets', namespace, name),
      toSecret,
    );
  }

  async getServiceAccount(namespace: string, name: string): Promise<ServiceAccountObject | undefined> {
    return this.getOne(
      { verb: 'get', resource: 'serviceaccounts', namespace, name },
      one('serviceaccounts', namespace, name),
      toServiceAccount,
    );
  }

  async createSecret(s: NewSecret): Promise<SecretObject> {
    const body = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: s.name, namespace: s.namespace, labels: s.labels, annotations: s.annotations },
      type: DOCKERCONFIGJSON_TYPE,
      data: s.data,
    };
    return toSecret(
      await this.call(
        { verb: 'create', resource: 'secrets', namespace: s.namespace, name: s.name },
        {
          method: 'POST',
          path: core('secrets')(s.namespace),
          body,
        },
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
      await this.call(
        { verb: 'patch', resource: 'secrets', namespace, name },
        {
          method: 'PATCH',
          path: one('secrets', namespace, name),
          body,
          contentType: MERGE_PATCH,
        },
      ),
    );
  }

  async deleteSecret(namespace: string, name: string, uid: string, resourceVersion: string): Promise<void> {
    await this.call(
      { verb: 'delete', resource: 'secrets', namespace, name },
      {
        method: 'DELETE',
        path: one('secrets', namespace, name),
        body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid, resourceVersion } },
      },
    );
  }

  async setImagePullSecrets(
    namespace: string,
    name: string,
    resourceVersion: string,
    names: readonly string[],
  ): Promise<ServiceAccountObject> {
    // imagePullSecrets is an atomic list: a merge patch replaces it whole, which is what we want, and
    // metadata.resourceVersion in the patch makes it conditional on what we read.
    const body = { metadata: { resourceVersion }, imagePullSecrets: names.map((n) => ({ name: n })) };
    return toServiceAccount(
      await this.call(
        { verb: 'patch', resource: 'serviceaccounts', namespace, name },
        {
          method: 'PATCH',
          path: one('serviceaccounts', namespace, name),
          body,
          contentType: MERGE_PATCH,
        },
      ),
    );
  }
}
