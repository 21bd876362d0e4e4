import { hostname } from 'node:os';
import { KubeCaller } from './caller.ts';
import { leaseBody, toEvent, toLease, toSecret, type RawObject } from './convert.ts';
import type {
  EventGateway,
  EventInput,
  EventRecord,
  InspectGateway,
  LeaseGateway,
  LeaseRecord,
  LeaseSpec,
  ObjectRef,
} from './gateway.ts';
import { DOCKERCONFIGJSON_TYPE } from './labels.ts';
import { core, lease, one } from './paths.ts';
import type { SecretObject } from './types.ts';

/** The kinds Events name, and their resources. */
const EVENT_OBJECTS: Record<string, string> = {
  Secret: 'secrets',
  ServiceAccount: 'serviceaccounts',
  Lease: 'leases',
};

/** The run Lease, Events, and the read-only inspection `doctor` and `status --all-secrets` do. */
export class K8sRecords extends KubeCaller implements LeaseGateway, EventGateway, InspectGateway {
  async getLease(namespace: string, name: string): Promise<LeaseRecord | undefined> {
    return this.getOne({ verb: 'get', resource: 'leases', namespace, name }, lease(namespace, name), toLease);
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

  async objectRef(kind: string, namespace: string, name: string): Promise<ObjectRef | undefined> {
    const resource = EVENT_OBJECTS[kind];
    if (resource === undefined) return undefined;
    const known = this.knownRef(resource, namespace, name);
    if (known) return known;
    const path = resource === 'leases' ? lease(namespace, name) : one(resource, namespace, name);
    return this.getOne({ verb: 'get', resource, namespace, name }, path, (raw: RawObject) =>
      raw.metadata?.uid
        ? { uid: raw.metadata.uid, resourceVersion: raw.metadata.resourceVersion ?? '' }
        : undefined,
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
