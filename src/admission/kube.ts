import { KubeCaller } from '../kube/caller.ts';
import type { RawMeta } from '../kube/convert.ts';
import { one } from '../kube/paths.ts';

/** An object as the admission side reads it: its metadata and the rest of its body, untyped. */
export interface RawDoc {
  apiVersion?: string;
  kind?: string;
  metadata?: RawMeta;
  [field: string]: unknown;
}

const AR = '/apis/admissionregistration.k8s.io/v1';
const JSON_PATCH = 'application/json-patch+json';
const MERGE_PATCH = 'application/merge-patch+json';

/** Where each kind the admission side writes lives on the REST API. */
export const paths = {
  secret: (ns: string, name?: string) =>
    name === undefined ? `/api/v1/namespaces/${encodeURIComponent(ns)}/secrets` : one('secrets', ns, name),
  configMap: (ns: string, name?: string) =>
    name === undefined
      ? `/api/v1/namespaces/${encodeURIComponent(ns)}/configmaps`
      : one('configmaps', ns, name),
  webhookConfig: (name: string) => `${AR}/mutatingwebhookconfigurations/${encodeURIComponent(name)}`,
  binding: (name?: string) =>
    `${AR}/mutatingadmissionpolicybindings${name === undefined ? '' : `/${encodeURIComponent(name)}`}`,
};

/**
 * The few objects of the admission side (the webhook's TLS Secret and configuration, the policy's params
 * and bindings) over the engine's request machinery: retries, timeouts, error mapping (kube/caller.ts).
 * Every write carries the resourceVersion it was decided on.
 */
export class AdmissionKube extends KubeCaller {
  async get(resource: string, path: string, namespace?: string): Promise<RawDoc | undefined> {
    return this.getOne({ verb: 'get', resource, namespace }, path, (o: RawDoc) => o);
  }

  async create(resource: string, collection: string, body: RawDoc): Promise<RawDoc> {
    const { namespace, name } = body.metadata ?? {};
    return this.call(
      { verb: 'create', resource, namespace, name },
      { method: 'POST', path: collection, body },
    );
  }

  /** A replace: `body.metadata.resourceVersion` makes it conditional (KUBE_CONFLICT when stale). */
  async replace(resource: string, path: string, body: RawDoc): Promise<RawDoc> {
    const { namespace, name } = body.metadata ?? {};
    return this.call({ verb: 'update', resource, namespace, name }, { method: 'PUT', path, body });
  }

  async jsonPatch(resource: string, path: string, ops: unknown[], name?: string): Promise<RawDoc> {
    return this.call(
      { verb: 'patch', resource, name },
      { method: 'PATCH', path, body: ops, contentType: JSON_PATCH },
    );
  }

  /** A merge patch; `metadata.resourceVersion` in it makes it conditional (KUBE_CONFLICT when stale). */
  async mergePatch(resource: string, path: string, body: unknown, namespace?: string): Promise<RawDoc> {
    return this.call(
      { verb: 'patch', resource, namespace },
      { method: 'PATCH', path, body, contentType: MERGE_PATCH },
    );
  }

  async listLabelled(resource: string, path: string, labelSelector: string): Promise<RawDoc[]> {
    return this.list({ verb: 'list', resource }, path, { labelSelector }, (o: RawDoc) => o);
  }

  /** Deletes only the object read: uid and resourceVersion as preconditions. */
  async remove(resource: string, path: string, uid: string, resourceVersion: string): Promise<void> {
    await this.call(
      { verb: 'delete', resource },
      {
        method: 'DELETE',
        path,
        body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid, resourceVersion } },
      },
    );
  }
}
