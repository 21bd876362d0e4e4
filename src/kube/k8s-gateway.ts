import { hostname } from 'node:os';
import { isRotatorError } from '../errors.ts';
import { KubeCaller } from './caller.ts';
import {
  leaseBody,
  toEvent,
  toLease,
  toNamespace,
  toPod,
  toSecret,
  toServiceAccount,
  type RawList,
} from './convert.ts';
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
import { DOCKERCONFIGJSON_TYPE, MANAGED_SELECTOR, TARGET_LABEL } from './labels.ts';
import type {
  NamespaceObject,
  NewSecret,
  PodObject,
  SecretObject,
  SecretUpdate,
  ServiceAccountObject,
} from './types.ts';

export { listClusterWide, type RequestCounts } from './caller.ts';

const MERGE_PATCH = 'application/merge-patch+json';
const core = (resource: string) => (ns: string | undefined) =>
  ns === undefined ? `/api/v1/${resource}` : `/api/v1/namespaces/${encodeURIComponent(ns)}/${resource}`;
const one = (resource: string, ns: string, name: string) =>
  `${core(resource)(ns)}/${encodeURIComponent(name)}`;
const lease = (ns: string, name?: string) =>
  `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(ns)}/leases${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;

/** The real gateway: the cluster operations of KubeGateway and friends, on the REST API. */
export class K8sGateway
  extends KubeCaller
  implements KubeGateway, LeaseGateway, EventGateway, InspectGateway
{
  async listNamespaces(labelSelector?: string): Promise<NamespaceObject[]> {
    return this.list(
      { verb: 'list', resource: 'namespaces' },
      '/api/v1/namespaces',
      { labelSelector },
      toNamespace,
    );
  }

  /** How many namespaces the cluster has, from a one-item list (undefined if the server does not say). */
  async estimateNamespaceCount(): Promise<number | undefined> {
    const r = await this.call<RawList<unknown>>(
      { verb: 'list', resource: 'namespaces' },
      { method: 'GET', path: '/api/v1/namespaces', query: { limit: 1 } },
    );
    const more = r.metadata?.remainingItemCount;
    const items = r.items?.length ?? 0;
    this.clusterNamespaces = more === undefined ? (r.metadata?.continue ? undefined : items) : items + more;
    return this.clusterNamespaces;
  }

  async getNamespace(name: string): Promise<NamespaceObject | undefined> {
    return this.#get(
      { verb: 'get', resource: 'namespaces', name },
      `/api/v1/namespaces/${encodeURIComponent(name)}`,
      toNamespace,
    );
  }

  async listManagedSecrets(scope: NamespaceScope, targets?: readonly string[]): Promise<SecretObject[]> {
    // Only this config's targets, filtered by the server: other installs' secrets are not our business.
    const labelSelector = targets?.length
      ? `${MANAGED_SELECTOR},${TARGET_LABEL} in (${targets.join(',')})`
      : MANAGED_SELECTOR;
    return this.scoped('secrets', scope, core('secrets'), { labelSelector }, toSecret);
  }

  async listServiceAccounts(scope: NamespaceScope): Promise<ServiceAccountObject[]> {
    return this.scoped('serviceaccounts', scope, core('serviceaccounts'), {}, toServiceAccount);
  }

  async listPods(scope: NamespaceScope): Promise<PodObject[]> {
    return this.scoped('pods', scope, core('pods'), {}, toPod);
  }

  async getSecret(namespace: string, name: string): Promise<SecretObject | undefined> {
    return this.#get(
      { verb: 'get', resource: 'secrets', namespace, name },
      one('secrets', namespace, name),
      toSecret,
    );
  }

  async getServiceAccount(namespace: string, name: string): Promise<ServiceAccountObject | undefined> {
    return this.#get(
      { verb: 'get', resource: 'serviceaccounts', namespace, name },
      one('serviceaccounts', namespace, name),
      toServiceAccount,
    );
  }

  async #get<T>(
    op: Parameters<KubeCaller['call']>[0],
    path: string,
    map: (raw: never) => T,
  ): Promise<T | undefined> {
    try {
      return map(await this.call<never>(op, { method: 'GET', path }));
    } catch (e) {
      if (isRotatorError(e, 'KUBE_NOT_FOUND')) return undefined;
      throw e;
    }
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

  async getLease(namespace: string, name: string): Promise<LeaseRecord | undefined> {
    return this.#get({ verb: 'get', resource: 'leases', namespace, name }, lease(namespace, name), toLease);
  }

  async createLease(namespace: string, name: string, spec: LeaseSpec): Promise<LeaseRecord> {
    return toLease(
      await this.call(
        { verb: 'create', resource: 'leases', namespace, name },
        {
          method: 'POST',
          path: lease(namespace),
          body: leaseBody(namespace, name, spec),
        },
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
      await this.call(
        { verb: 'update', resource: 'leases', namespace, name },
        {
          method: 'PUT',
          path: lease(namespace, name),
          body: leaseBody(namespace, name, spec, resourceVersion),
        },
      ),
    );
  }

  async createEvent(e: EventInput): Promise<void> {
    const now = new Date().toISOString();
    await this.call(
      { verb: 'create', resource: 'events', namespace: e.namespace },
      {
        method: 'POST',
        path: core('events')(e.namespace),
        body: {
          apiVersion: 'v1',
          kind: 'Event',
          metadata: { generateName: `${e.involved.name}.`, namespace: e.namespace },
          involvedObject: e.involved,
          type: e.type,
          reason: e.reason,
          message: e.message.slice(0, 1024),
          source: { component: 'regcred-rotator' },
          reportingComponent: 'regcred-rotator',
          reportingInstance: hostname(),
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      },
    );
  }

  async listEvents(namespace: string): Promise<EventRecord[]> {
    return this.list({ verb: 'list', resource: 'events', namespace }, core('events')(namespace), {}, toEvent);
  }

  async listSecretsIn(namespace: string): Promise<SecretObject[]> {
    return this.list(
      { verb: 'list', resource: 'secrets', namespace },
      core('secrets')(namespace),
      {},
      toSecret,
    );
  }

  async listPullSecretsEverywhere(): Promise<SecretObject[]> {
    return this.list(
      { verb: 'list', resource: 'secrets' },
      '/api/v1/secrets',
      { fieldSelector: `type=${DOCKERCONFIGJSON_TYPE}` },
      toSecret,
    );
  }
}
