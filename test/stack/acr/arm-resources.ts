/**
 * The Microsoft.ContainerRegistry resources the double serves, as ARM returns them (ACR-FACTS 5–10, 13,
 * 16, 19–21): token and scope-map bodies, the keep-set PATCH, generateCredentials. Pure over the world:
 * status, body and an optional long-running operation; the transport (auth, envelope, LRO headers) is arm.ts.
 */
import { randomUUID } from 'node:crypto';
import {
  armTime,
  forToken,
  parseArmTime,
  SLOTS,
  World,
  type Registry,
  type ScopeMap,
  type SlotName,
  type Token,
} from './model.ts';

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Start a long-running operation: 'token' (Azure-AsyncOperation), 'registry' (Location, maybe both). */
  lro?: { kind: 'token' | 'registry'; result?: unknown; tokenName?: string } | undefined;
}

/** A request value in a message: strings as they are, anything else as JSON. */
const show = (x: unknown): string => (typeof x === 'string' ? x : JSON.stringify(x));

const isStatus = (x: unknown): x is Token['status'] => x === 'enabled' || x === 'disabled';

export const armError = (status: number, code: string, message: string): Reply => ({
  status,
  body: { error: { code, message } },
});

export class Resources {
  readonly #w: World;
  constructor(world: World) {
    this.#w = world;
  }

  regId(reg: Registry): string {
    const c = this.#w.config;
    return `/subscriptions/${c.subscriptionId}/resourceGroups/${c.resourceGroup}/providers/Microsoft.ContainerRegistry/registries/${reg.name}`;
  }

  notFound(path: string): Reply {
    return armError(
      404,
      'ResourceNotFound',
      `The Resource 'Microsoft.ContainerRegistry/registries/${path}' under resource group '${this.#w.config.resourceGroup}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
    );
  }

  registry(reg: Registry, loginServer: string): Reply {
    return {
      status: 200,
      body: {
        id: this.regId(reg),
        name: reg.name,
        type: 'Microsoft.ContainerRegistry/registries',
        location: this.#w.config.location,
        sku: { name: 'Premium', tier: 'Premium' },
        properties: {
          loginServer,
          provisioningState: 'Succeeded',
          adminUserEnabled: false,
          anonymousPullEnabled: false,
        },
      },
    };
  }

  #noExpiry(): Record<string, unknown> {
    const form = this.#w.settings.noExpiryForm;
    return form === 'null'
      ? { expiry: null }
      : form === 'max'
        ? { expiry: '9999-12-31T23:59:59.9999999Z' }
        : {};
  }

  /** A slot without its value: the value is shown once, by generateCredentials (ACR-FACTS 7, 23). */
  #password(
    name: SlotName,
    v: { creationTime: string; expiry: string | undefined },
    value?: string,
  ): unknown {
    return {
      creationTime: v.creationTime,
      ...(v.expiry !== undefined ? { expiry: v.expiry } : this.#noExpiry()),
      name,
      ...(value !== undefined ? { value } : {}),
    };
  }

  provisioningState(t: Token): string {
    const now = Date.now();
    if (now < t.provisionedAt) return 'Creating';
    if (now < t.updatingUntil) return 'Updating';
    return 'Succeeded';
  }

  token(reg: Registry, t: Token): unknown {
    const passwords = SLOTS.flatMap((n) => {
      const v = World.current(t, n);
      return v ? [this.#password(n, v)] : [];
    });
    return {
      id: `${this.regId(reg)}/tokens/${t.name}`,
      name: t.name,
      type: 'Microsoft.ContainerRegistry/registries/tokens',
      systemData: {
        createdBy: t.createdBy,
        createdByType: 'Application',
        createdAt: t.creationDate,
        lastModifiedBy: t.lastModifiedBy,
        lastModifiedByType: 'Application',
        lastModifiedAt: t.lastModifiedAt,
      },
      properties: {
        creationDate: t.creationDate,
        scopeMapId: `${this.regId(reg)}/scopeMaps/${t.scopeMap}`,
        provisioningState: this.provisioningState(t),
        status: t.status,
        // Empty arrays, never absent: clients treat a missing list as an error (ACR-FACTS 6).
        credentials: { certificates: [], passwords },
      },
    };
  }

  scopeMap(reg: Registry, m: ScopeMap): unknown {
    return {
      id: `${this.regId(reg)}/scopeMaps/${m.name}`,
      name: m.name,
      type: 'Microsoft.ContainerRegistry/registries/scopeMaps',
      properties: {
        description: m.description,
        type: m.system ? 'SystemDefined' : 'UserDefined',
        creationDate: m.creationDate,
        provisioningState: 'Succeeded',
        actions: m.actions,
      },
    };
  }

  /** A scope map of this registry named by its ARM id (case-insensitive, as ARM compares ids). */
  #scopeMapOf(reg: Registry, id: unknown): ScopeMap | undefined {
    if (typeof id !== 'string') return undefined;
    const prefix = `${this.regId(reg)}/scopeMaps/`.toLowerCase();
    if (!id.toLowerCase().startsWith(prefix)) return undefined;
    return reg.scopeMaps.get(id.slice(prefix.length).toLowerCase());
  }

  putToken(reg: Registry, name: string, body: TokenBody, by: string): Reply {
    if (!/^[a-zA-Z0-9-]{5,50}$/.test(name))
      return armError(
        400,
        'InvalidParameter',
        `Token name '${name}' must be 5-50 characters of letters, digits and '-'.`,
      );
    const existing = reg.tokens.get(name.toLowerCase());
    const p = body.properties ?? {};
    const map =
      p.scopeMapId === undefined && existing
        ? reg.scopeMaps.get(existing.scopeMap.toLowerCase())
        : this.#scopeMapOf(reg, p.scopeMapId);
    if (!map)
      return armError(
        400,
        'InvalidParameter',
        `The scope map '${show(p.scopeMapId)}' was not found in registry '${reg.name}'.`,
      );
    if (p.status !== undefined && !isStatus(p.status))
      return armError(
        400,
        'InvalidParameter',
        `Token status '${show(p.status)}' is not valid; use 'enabled' or 'disabled'.`,
      );
    const t = existing ?? this.#w.newToken(name, map.name, by, this.#w.settings.provisioningMs);
    t.scopeMap = map.name;
    if (isStatus(p.status)) t.status = p.status;
    if (existing) this.#keep(t, p.credentials?.passwords);
    this.#touched(t, by, existing !== undefined);
    reg.tokens.set(name.toLowerCase(), t);
    return this.#written(reg, t, existing ? 200 : 201);
  }

  /** PATCH: only the fields sent change; `passwords` is the set of slot names to keep (ACR-FACTS 16). */
  patchToken(reg: Registry, t: Token, body: TokenBody, by: string): Reply {
    const p = body.properties ?? {};
    if (p.status !== undefined && !isStatus(p.status))
      return armError(
        400,
        'InvalidParameter',
        `Token status '${show(p.status)}' is not valid; use 'enabled' or 'disabled'.`,
      );
    if (p.scopeMapId !== undefined) {
      const map = this.#scopeMapOf(reg, p.scopeMapId);
      if (!map)
        return armError(
          400,
          'InvalidParameter',
          `The scope map '${show(p.scopeMapId)}' was not found in registry '${reg.name}'.`,
        );
      t.scopeMap = map.name;
    }
    if (isStatus(p.status)) t.status = p.status;
    this.#keep(t, p.credentials?.passwords);
    this.#touched(t, by, true);
    return this.#written(reg, t, 200);
  }

  /** Names not in the list go; a listed name without a slot creates nothing; kept slots keep their times. */
  #keep(t: Token, passwords: { name?: unknown }[] | undefined): void {
    if (!Array.isArray(passwords)) return;
    const keep = new Set(passwords.map((x) => String(x.name)));
    for (const n of SLOTS) if (!keep.has(n)) t.slots.delete(n);
  }

  #touched(t: Token, by: string, update: boolean): void {
    const now = Date.now();
    t.lastModifiedBy = by;
    t.lastModifiedAt = armTime(now);
    if (update && this.#w.settings.tokenWrites === 'async')
      t.updatingUntil = now + this.#w.settings.provisioningMs;
  }

  #written(reg: Registry, t: Token, status: number): Reply {
    if (this.#w.settings.tokenWrites === 'async') {
      return { status: 201, body: this.token(reg, t), lro: { kind: 'token', tokenName: t.name } };
    }
    return { status, body: this.token(reg, t) };
  }

  generateCredentials(reg: Registry, body: GenerateBody): Reply {
    const prefix = `${this.regId(reg)}/tokens/`;
    if (typeof body.tokenId !== 'string' || !body.tokenId.toLowerCase().startsWith(prefix.toLowerCase()))
      return armError(
        400,
        'InvalidParameter',
        `The tokenId '${show(body.tokenId)}' is not a token of registry '${reg.name}'.`,
      );
    const tokenName = body.tokenId.slice(prefix.length);
    if (body.name !== undefined && !SLOTS.includes(body.name as SlotName))
      return armError(
        400,
        'InvalidParameter',
        `The password name '${show(body.name)}' is not valid; use 'password1' or 'password2'.`,
      );
    const expiry =
      body.expiry === undefined || body.expiry === null ? undefined : parseArmTime(show(body.expiry));
    if (body.expiry !== undefined && body.expiry !== null && !expiry)
      return armError(400, 'InvalidParameter', `The expiry '${show(body.expiry)}' is not a valid date-time.`);
    const t = reg.tokens.get(tokenName.toLowerCase());
    if (!t) return armError(404, 'ResourceNotFound', `The resource ${tokenName} could not be found.`);
    if (this.provisioningState(t) !== 'Succeeded')
      return armError(
        409,
        'TokenNotActive',
        `The token '${t.name}' is not active yet (provisioning state ${this.provisioningState(t)}).`,
      );
    const names = body.name ? [body.name as SlotName] : SLOTS;
    const fresh = this.#w.regenerate(t, names, expiry);
    const result = {
      username: t.name,
      passwords: SLOTS.flatMap((n) => {
        const v = World.current(t, n);
        return v ? [this.#password(n, v, fresh.get(n)?.value)] : [];
      }),
    };
    const race = this.#w.faults.race;
    if (race && race.times > 0 && forToken(race, tokenName.toLowerCase())) {
      race.times--;
      this.#w.regenerate(t, names, expiry); // the caller's values are dead before it reads them
    }
    if (this.#w.settings.generateCredentials === 'sync') return { status: 200, body: result };
    return { status: 202, lro: { kind: 'registry', result } };
  }

  putScopeMap(reg: Registry, name: string, b: unknown): Reply {
    const p = (b as { properties?: { actions?: unknown; description?: unknown } }).properties ?? {};
    if (!Array.isArray(p.actions) || p.actions.some((a) => typeof a !== 'string'))
      return armError(400, 'InvalidParameter', 'The scope map needs properties.actions, a list of strings.');
    const existing = reg.scopeMaps.get(name.toLowerCase());
    if (existing?.system)
      return armError(400, 'InvalidParameter', `The scope map '${name}' is system defined.`);
    const m = {
      name,
      actions: p.actions as string[],
      description: typeof p.description === 'string' ? p.description : '',
      system: false,
      creationDate: existing?.creationDate ?? armTime(Date.now()),
    };
    reg.scopeMaps.set(name.toLowerCase(), m);
    return { status: existing ? 200 : 201, body: this.scopeMap(reg, m) };
  }

  static newOperationId(kind: 'token' | 'registry'): string {
    return `${kind === 'token' ? 'tokens' : 'registries'}-${randomUUID()}`;
  }
}

export interface TokenBody {
  properties?: {
    scopeMapId?: unknown;
    status?: unknown;
    credentials?: { passwords?: { name?: unknown }[] };
  };
}

export interface GenerateBody {
  tokenId?: unknown;
  expiry?: unknown;
  name?: unknown;
}
