/**
 * The ACR double's world: registries with scope maps and tokens (two password slots each), the role
 * definitions and assignments ARM checks, and the knobs tests turn (LRO answers, throttling, failures;
 * the replication delay is a knob of each token). Passwords live here once and are read by both planes: ARM regenerates, the
 * registry front reads the replicated value (ACR-FACTS 32: a regenerated slot reaches the data plane late).
 */
import { randomBytes } from 'node:crypto';
import { BUILT_IN_ROLES } from './roles.ts';

export type SlotName = 'password1' | 'password2';
export const SLOTS: readonly SlotName[] = ['password1', 'password2'];

/** One value a slot has held; the data plane sees the newest one whose `visibleAt` has passed. */
export interface SlotValue {
  value: string;
  creationTime: string;
  /** Epoch ms; undefined = never expires. */
  expiresAt: number | undefined;
  expiry: string | undefined;
  visibleAt: number;
}

export interface Token {
  name: string;
  scopeMap: string;
  status: 'enabled' | 'disabled';
  creationDate: string;
  /** Epoch ms at which a Creating token becomes Succeeded (ACR-FACTS 18, 33). */
  provisionedAt: number;
  /** Epoch ms until which an asynchronously written token shows `Updating`. */
  updatingUntil: number;
  slots: Map<SlotName, SlotValue[]>;
  createdBy: string;
  lastModifiedBy: string;
  lastModifiedAt: string;
  /**
   * How much later a regenerated slot of this token reaches the data plane (ACR-FACTS 32: about 60 s on
   * Azure, per regeneration). Per token, so that a test of one token's lag slows no other token; unset,
   * the registry-wide `settings.replicationDelayMs` (0 unless a test sets it) applies.
   */
  replicationDelayMs: number | undefined;
}

export interface ScopeMap {
  name: string;
  actions: string[];
  description: string;
  system: boolean;
  creationDate: string;
}

export interface Registry {
  name: string;
  scopeMaps: Map<string, ScopeMap>;
  tokens: Map<string, Token>;
}

export interface RoleDefinition {
  id: string;
  name: string;
  actions: string[];
}

export interface RoleAssignment {
  principalId: string;
  /** An ARM id: subscription, resource group or registry; it covers everything below it. */
  scope: string;
  role: string;
}

export interface AcrConfig {
  tenantId: string;
  subscriptionId: string;
  resourceGroup: string;
  location: string;
  /** Where the Entra double publishes its signing keys (ARM verifies every bearer token against them). */
  jwksUrl: string;
  /** The CA of the Entra double's certificate (the stack's). */
  jwksCa?: string | undefined;
  registries: {
    name: string;
    scopeMaps: { name: string; actions: string[] }[];
    tokens: { name: string; scopeMap: string }[];
  }[];
  customRoles: RoleDefinition[];
  roleAssignments: RoleAssignment[];
  /** The distribution registry that holds the content, plain HTTP on loopback. */
  backend: string;
  listen: { arm: string; registry: string; admin: string };
  tls: { cert: string; key: string };
}

/** Knobs the tests set through the admin API; every one defaults to what Azure usually does. */
export interface Settings {
  /** How PUT/PATCH of a token answer: 200/201 at once, or 201 + Azure-AsyncOperation (ACR-FACTS 17). */
  tokenWrites: 'sync' | 'async';
  /** generateCredentials: 200 with the result, 202 + Location, or 202 + Azure-AsyncOperation + Location (20). */
  generateCredentials: 'sync' | 'location' | 'async-operation';
  /** InProgress answers before an operation status turns Succeeded. */
  polls: number;
  retryAfterSeconds: number;
  /**
   * The replication delay of every token without its own (`POST /_admin/replication`). Kept for callers
   * from before the per-token knob; it slows every other test's regenerations, so tests set the token's.
   */
  replicationDelayMs: number;
  /** A new token stays `Creating` this long (generateCredentials answers 409 TokenNotActive meanwhile). */
  provisioningMs: number;
  /** Lifetime of the registry's own access tokens (/oauth2/token). */
  accessTokenSeconds: number;
  /** Page size of token and scope-map lists (nextLink with $skipToken beyond it). */
  pageSize: number;
  /** How a slot generated without `expiry` shows it: left out, `null`, or year 9999 (ACR-FACTS 8). */
  noExpiryForm: 'absent' | 'null' | 'max';
}

export const DEFAULT_SETTINGS: Settings = {
  tokenWrites: 'sync',
  generateCredentials: 'sync',
  polls: 1,
  retryAfterSeconds: 1,
  replicationDelayMs: 0,
  provisioningMs: 0,
  accessTokenSeconds: 3 * 3600,
  pageSize: 100,
  noExpiryForm: 'absent',
};

/** One-shot failures, consumed per matching ARM request. */
/**
 * Faults apply to every request that matches them; `token` narrows one to the requests that name that
 * token (in the path, or generateCredentials' tokenId), so a test's fault is not spent by another suite's
 * requests running at the same time (the integration and node lanes share the double).
 */
export interface Faults {
  /** Answer this many requests with 429 SubscriptionRequestsThrottled + Retry-After. */
  throttle?:
    | { times: number; retryAfterSeconds: number; operation?: string | undefined; token?: string | undefined }
    | undefined;
  /**
   * Answer this many requests of `operation` (e.g. `generateCredentials`, `getToken`) with `status`;
   * `afterApplying`: do the work first, then lose the answer (a slot regenerated whose value nobody got).
   */
  fail?:
    | {
        operation: string;
        status: number;
        times: number;
        afterApplying?: boolean | undefined;
        token?: string | undefined;
      }
    | undefined;
  /** Another client regenerates the same slots right after the next `times` generateCredentials (fact 57). */
  race?: { times: number; token?: string | undefined } | undefined;
  /** The next `times` long-running operations end `Failed` with this error (ACR-FACTS 17). */
  operationFails?: { times: number; code: string; message: string } | undefined;
}

export interface LogEntry {
  /** Numbered from 1 as answered: a test reads the entries after the last number it saw (the log drops its oldest past 5,000). */
  seq: number;
  at: string;
  plane: 'arm' | 'registry';
  method: string;
  path: string;
  operation: string;
  apiVersion: string | null;
  principal: string | null;
  clientRequestId: string | null;
  /** The token the request names (lower case: ARM names are case-insensitive), if it names one. */
  token: string | null;
  status: number;
}

/** Whether a fault narrowed to a token (Faults) applies to a request naming `token`. */
export const forToken = (f: { token?: string | undefined }, token: string | null): boolean =>
  f.token === undefined || f.token.toLowerCase() === token;

/** A long-running operation: `remaining` InProgress answers, then Succeeded (or Failed) with `result`. */
export interface Operation {
  id: string;
  remaining: number;
  result?: unknown;
  failed?: { code: string; message: string } | undefined;
  startedAt: string;
  endedAt?: string | undefined;
}

/** ARM's timestamps: UTC, `Z`, seven fractional digits (ACR-FACTS 8). */
export function armTime(ms: number, subMs = Number(process.hrtime.bigint() % 10000n)): string {
  return `${new Date(ms).toISOString().slice(0, 23)}${String(subMs).padStart(4, '0')}Z`;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?(Z|[+-]\d{2}:\d{2})$/i;
/** RFC 3339 with 0–7 fractional digits and any offset (clients send all of these: ACR-FACTS 8), normalised. */
export function parseArmTime(s: string): { ms: number; text: string } | undefined {
  const m = RFC3339.exec(s);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, se, frac = '', zone = 'Z'] = m;
  let ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(se));
  if (zone.toUpperCase() !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    ms -= sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
  }
  if (Number.isNaN(ms)) return undefined;
  const f7 = frac.padEnd(7, '0');
  return { ms: ms + Number(f7.slice(0, 3)), text: `${new Date(ms).toISOString().slice(0, 19)}.${f7}Z` };
}

/** Values like ACR's: ~32 base64 characters, with `/` and `+` (ACR-FACTS 22) to exercise escaping paths. */
export function newPassword(): string {
  for (;;) {
    const v = randomBytes(24).toString('base64');
    if (v.includes('/') || v.includes('+')) return v;
  }
}

const SYSTEM_MAPS: Record<string, string[]> = {
  _repositories_pull: ['repositories/*/content/read'],
  _repositories_push: ['repositories/*/content/read', 'repositories/*/content/write'],
  _repositories_admin: [
    'repositories/*/content/read',
    'repositories/*/content/write',
    'repositories/*/content/delete',
    'repositories/*/metadata/read',
    'repositories/*/metadata/write',
  ],
};

export class World {
  readonly config: AcrConfig;
  readonly registries = new Map<string, Registry>();
  readonly roles: RoleDefinition[];
  settings: Settings = { ...DEFAULT_SETTINGS };
  faults: Faults = {};
  readonly operations = new Map<string, Operation>();
  readonly log: LogEntry[] = [];

  constructor(config: AcrConfig) {
    this.config = config;
    this.roles = [...BUILT_IN_ROLES, ...config.customRoles];
    const now = armTime(Date.now());
    for (const r of config.registries) {
      const reg: Registry = { name: r.name, scopeMaps: new Map(), tokens: new Map() };
      for (const [name, actions] of Object.entries(SYSTEM_MAPS))
        reg.scopeMaps.set(name.toLowerCase(), {
          name,
          actions,
          description: '',
          system: true,
          creationDate: now,
        });
      for (const m of r.scopeMaps)
        reg.scopeMaps.set(m.name.toLowerCase(), { ...m, description: '', system: false, creationDate: now });
      for (const t of r.tokens)
        reg.tokens.set(t.name.toLowerCase(), this.newToken(t.name, t.scopeMap, 'stack', 0));
      this.registries.set(r.name.toLowerCase(), reg);
    }
  }

  newToken(name: string, scopeMap: string, by: string, provisioningMs: number): Token {
    const now = Date.now();
    return {
      name,
      scopeMap,
      status: 'enabled',
      creationDate: armTime(now),
      provisionedAt: now + provisioningMs,
      updatingUntil: 0,
      slots: new Map(),
      createdBy: by,
      lastModifiedBy: by,
      lastModifiedAt: armTime(now),
      replicationDelayMs: undefined,
    };
  }

  /** ARM's view of a slot: its newest value, replicated or not. */
  static current(t: Token, slot: SlotName): SlotValue | undefined {
    return t.slots.get(slot)?.at(-1);
  }

  /** The data plane's view: the newest value that has replicated by `now`. */
  static replicated(t: Token, slot: SlotName, now = Date.now()): SlotValue | undefined {
    return t.slots.get(slot)?.findLast((v) => v.visibleAt <= now);
  }

  /** Regenerates slots; overwriting a slot that held a value replicates after the token's delay, filling an empty one at once. */
  regenerate(
    t: Token,
    names: readonly SlotName[],
    expiry: { ms: number; text: string } | undefined,
  ): Map<SlotName, SlotValue> {
    const now = Date.now();
    // One instant for every slot of the call (ACR-FACTS 21), later than any value they held: a slot
    // regenerated twice within a millisecond still shows that it changed.
    let at = now;
    for (const n of names) {
      const last = World.current(t, n);
      if (last) at = Math.max(at, (parseArmTime(last.creationTime)?.ms ?? 0) + 1);
    }
    const creationTime = armTime(at);
    const out = new Map<SlotName, SlotValue>();
    for (const n of names) {
      const history = t.slots.get(n) ?? [];
      const v: SlotValue = {
        value: newPassword(),
        creationTime,
        expiresAt: expiry?.ms,
        expiry: expiry?.text,
        visibleAt:
          history.length > 0 ? now + (t.replicationDelayMs ?? this.settings.replicationDelayMs) : now,
      };
      // Keep what the data plane still serves (the newest replicated value onwards), drop what it never will.
      const from = Math.max(
        0,
        history.findLastIndex((h) => h.visibleAt <= now),
      );
      t.slots.set(n, [...history.slice(from), v]);
      out.set(n, v);
    }
    return out;
  }

  principalActions(principalId: string, scope: string): string[] {
    const s = scope.toLowerCase();
    const out: string[] = [];
    for (const a of this.config.roleAssignments) {
      if (a.principalId !== principalId) continue;
      const as = a.scope.toLowerCase().replace(/\/+$/, '');
      if (s !== as && !s.startsWith(`${as}/`)) continue;
      const role = this.roles.find((r) => r.name === a.role || r.id === a.role);
      if (role) out.push(...role.actions);
    }
    return out;
  }

  #answered = 0;

  record(e: Omit<LogEntry, 'at' | 'seq'>): void {
    this.log.push({ seq: ++this.#answered, at: new Date().toISOString(), ...e });
    if (this.log.length > 5000) this.log.splice(0, this.log.length - 5000);
  }
}
