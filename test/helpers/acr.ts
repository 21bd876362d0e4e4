/**
 * The stack's Azure Container Registry double, as tests use it: its coordinates and identities, the real
 * ARM SDK signed in through the Entra double, the double's admin API (knobs, request log, roles), raw
 * HTTPS to ARM and to the registry `<name>.azurecr.io`. Importing this module makes this process resolve
 * the Azure names (the registry's to the stack address).
 */
import '../stack/azure/resolve.ts';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { resolve } from 'node:path';
import { ContainerRegistryManagementClient } from '@azure/arm-containerregistry';
import { ClientSecretCredential } from '@azure/identity';
import { env } from './stack.ts';
import type { LogEntry } from '../stack/acr/model.ts';

/**
 * `NODE_OPTIONS` for a rotator process that reaches the ACR double as Azure: this checkout's name-resolution
 * hook (the stack's `REGCRED_STACK_AZURE_RESOLVE` names the copy of whichever checkout started the stack,
 * which may predate the `*.azurecr.io` names).
 */
export const ACR_NODE_OPTIONS = `--import=${resolve(import.meta.dirname, '../stack/azure/resolve.ts')}`;

export type AcrApp = 'ROTATOR' | 'CONTRIBUTOR' | 'NOROLE';

export const acr = {
  get arm() {
    return env('REGCRED_STACK_ACR_ARM');
  },
  get audience() {
    return env('REGCRED_STACK_ACR_AUDIENCE');
  },
  get tenant() {
    return env('REGCRED_STACK_AZURE_TENANT');
  },
  get subscription() {
    return env('REGCRED_STACK_ACR_SUBSCRIPTION');
  },
  get resourceGroup() {
    return env('REGCRED_STACK_ACR_RESOURCE_GROUP');
  },
  get registry() {
    return env('REGCRED_STACK_ACR_REGISTRY');
  },
  get loginServer() {
    return env('REGCRED_STACK_ACR_LOGIN_SERVER');
  },
  get token() {
    return env('REGCRED_STACK_ACR_TOKEN');
  },
  get scopeMap() {
    return env('REGCRED_STACK_ACR_SCOPE_MAP');
  },
  /** `/subscriptions/…/registries/<registry>`, the registry's ARM id. */
  get registryId() {
    return `/subscriptions/${this.subscription}/resourceGroups/${this.resourceGroup}/providers/Microsoft.ContainerRegistry/registries/${this.registry}`;
  },
  id(app: AcrApp): string {
    return env(`REGCRED_STACK_ACR_${app}`);
  },
  secret(app: AcrApp): string {
    return env(`REGCRED_STACK_ACR_${app}_SECRET`);
  },
  /** The app's object id (what role assignments name), from the Entra double's tenant. */
  objectId(app: AcrApp): string {
    const tenant = JSON.parse(readFileSync(`${env('REGCRED_STACK_RUN')}/azure/config.json`, 'utf8')) as {
      apps: { clientId: string; objectId: string }[];
    };
    const found = tenant.apps.find((a) => a.clientId === this.id(app));
    if (!found) throw new Error(`no app ${this.id(app)} in the Entra double`);
    return found.objectId;
  },
};

const credentials = new Map<AcrApp, ClientSecretCredential>();
export function acrCredential(app: AcrApp): ClientSecretCredential {
  let c = credentials.get(app);
  if (!c) {
    c = new ClientSecretCredential(acr.tenant, acr.id(app), acr.secret(app));
    credentials.set(app, c);
  }
  return c;
}

/** The real SDK (12.x) pointed at the double: its `endpoint`, with ARM's scope given explicitly (ACR-FACTS 4). */
export function sdk(app: AcrApp, options: { apiVersion?: string } = {}): ContainerRegistryManagementClient {
  return new ContainerRegistryManagementClient(acrCredential(app), acr.subscription, {
    endpoint: acr.arm,
    credentials: { scopes: [`${acr.audience}/.default`] },
    ...options,
  });
}

export async function acrAdmin<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${env('REGCRED_STACK_ACR_ADMIN')}/${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`acr admin ${method} ${path}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

/**
 * How much later a regenerated slot of `token` reaches the registry (ACR-FACTS 32); the double keeps it on
 * the token, so other tokens, and tests that reset the double's settings, are not touched.
 */
export async function replicationDelay(token: string, ms: number): Promise<void> {
  await acrAdmin('POST', 'replication', { token, delayMs: ms });
}

/** Back to Azure's usual behaviour (no LRO, no delay, no faults), and an empty request log. */
/**
 * The double's settings and faults back to their defaults. Its request log is left alone: the node lane's
 * suites use the double while the integration lane's run, so a test reads the entries after a number it
 * took (acrMark, acrRequestsAfter), for its own token where it can.
 */
export async function resetAcr(): Promise<void> {
  await acrAdmin('DELETE', 'settings');
  await acrAdmin('DELETE', 'faults');
}

/** One answered request in the double's log. */
export type AcrRequest = LogEntry;

/** The number of the last request the double answered. */
export async function acrMark(): Promise<number> {
  return (await acrAdmin<AcrRequest[]>('GET', 'requests')).at(-1)?.seq ?? 0;
}

/** The requests the double answered after number `seq`. */
export async function acrRequestsAfter(seq: number): Promise<AcrRequest[]> {
  return (await acrAdmin<AcrRequest[]>('GET', 'requests')).filter((r) => r.seq > seq);
}

export interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export function https(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

export const basic = (user: string, password: string): Record<string, string> => ({
  authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});

/** A request to the registry's data plane, `https://<login server><path>`. */
export const registry = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
  https(`https://${acr.loginServer}${path}`, { method, headers });

/** A token's slots as ARM lists them (name → creationTime, expiry), read with the contributor app. */
export async function slotsOf(token: string): Promise<Map<string, { creationTime?: Date; expiry?: Date }>> {
  const t = await sdk('CONTRIBUTOR').tokens.get(acr.resourceGroup, acr.registry, token);
  return new Map(
    (t.credentials?.passwords ?? []).map((p) => [
      p.name ?? '',
      { creationTime: p.creationTime, expiry: p.expiry },
    ]),
  );
}

/** A fresh token on the stack's scope map (no passwords, as ACR creates them), made with the contributor app. */
export async function makeToken(name: string, scopeMap = acr.scopeMap): Promise<string> {
  await sdk('CONTRIBUTOR').tokens.create(
    acr.resourceGroup,
    acr.registry,
    name,
    { scopeMapId: `${acr.registryId}/scopeMaps/${scopeMap}`, status: 'enabled' },
    { updateIntervalInMs: 50 },
  );
  return name;
}
