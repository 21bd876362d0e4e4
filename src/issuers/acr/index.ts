import type { TokenCredential } from '@azure/identity';
import { ConnectionPool } from '../../net/http.ts';
import { describeIdentity, makeCredential } from '../../providers/azure-key-vault/identity.ts';
import type { IssuerContext } from '../context.ts';
import type { CredentialRef, IssuedCredential, Issuer, ManagedCredential } from '../types.ts';
import { ArmClient } from './client.ts';
import { issuerError, mapArmError, type Where } from './errors.ts';
import { generateSlot } from './generate.ts';
import type { AcrTokenIssuerConfig } from './schema.ts';
import {
  alreadyRevoked,
  isSlotName,
  parseToken,
  SLOT_NAMES,
  targetSlot,
  type SlotName,
  type TokenState,
} from './slots.ts';

const DAY = 86_400_000;
/**
 * Days a generated password outlives the policy's maximum age. The policy flags the credential at
 * maxAgeDays; ACR itself refuses it this much later, so a slot that was never revoked dies on its own
 * while an operator still has time to act on the violation.
 */
export const SLOT_EXPIRY_GRACE_DAYS = 14;
const DEFAULT_MAX_AGE_DAYS = 90;

export interface AcrIssuerContext {
  /** The policy's maximum credential age; the default slot expiry is this plus the grace. */
  maxAgeDays?: number | undefined;
}

/**
 * Azure Container Registry repository-scoped tokens (class `dual-slot`): one token, two password slots
 * used in turn. `issue` regenerates the slot not in use with an expiry, `revoke` removes the old slot with
 * a PATCH that keeps the other. ARM is reached with a small client over the project's HTTP stack and a
 * token from `@azure/identity` (the same identity options as the Key Vault store).
 */
export class AcrTokenIssuer implements Issuer {
  readonly type = 'acr-token';
  readonly class = 'dual-slot';
  readonly #c: AcrTokenIssuerConfig;
  readonly #where: Where;
  readonly #arm: ArmClient;
  readonly #pool = new ConnectionPool();
  readonly #expiryDays: number;
  #credential: Promise<TokenCredential> | undefined;

  constructor(config: AcrTokenIssuerConfig, context: AcrIssuerContext = {}) {
    this.#c = config;
    // Described once: the identity is chosen from the environment when the credential is built.
    this.#where = {
      registry: config.registry,
      token: config.token,
      identity: describeIdentity(config.identity),
    };
    this.#expiryDays =
      config.slotExpiryDays ?? (context.maxAgeDays ?? DEFAULT_MAX_AGE_DAYS) + SLOT_EXPIRY_GRACE_DAYS;
    const endpoint = new URL(config.armEndpoint).origin;
    this.#arm = new ArmClient({
      endpoint,
      scope: `${new URL(config.armAudience ?? endpoint).origin}/.default`,
      credential: () => (this.#credential ??= makeCredential(config.identity)),
      timeoutMs: config.requestTimeoutSeconds * 1000,
      pool: this.#pool,
    });
  }

  get #registryPath(): string {
    const c = this.#c;
    return `/subscriptions/${c.subscriptionId}/resourceGroups/${encodeURIComponent(c.resourceGroup)}/providers/Microsoft.ContainerRegistry/registries/${c.registry}`;
  }

  get #tokenPath(): string {
    return `${this.#registryPath}/tokens/${this.#c.token}`;
  }

  async #read(doing: string): Promise<TokenState> {
    try {
      return parseToken(await this.#arm.get(this.#tokenPath));
    } catch (e) {
      throw mapArmError(e, this.#where, doing, 'tokens/read');
    }
  }

  /** Issuing needs an enabled token that finished provisioning (generateCredentials answers 409 before). */
  #usable(t: TokenState, doing: string): void {
    if (t.provisioningState !== 'Succeeded')
      throw issuerError(
        'ISSUER_UNAVAILABLE',
        this.#where,
        `${doing}: the token is ${t.provisioningState}, not Succeeded yet`,
        {
          retryable: true,
        },
      );
    if (t.status !== 'enabled')
      throw issuerError(
        'ISSUER_UNAVAILABLE',
        this.#where,
        `${doing}: the token is ${t.status}; enable it (az acr token update --status enabled) or name another token`,
      );
  }

  #label(slot: SlotName): string {
    return `token ${this.#c.token}, slot ${slot}`;
  }

  async list(): Promise<ManagedCredential[]> {
    const t = await this.#read('listing the token slots');
    const now = Date.now();
    return t.slots.map((s) => ({
      id: s.name,
      label: this.#label(s.name),
      issuedAt: s.createdAt ?? new Date(0),
      expiresAt: s.expiresAt,
      state:
        t.status === 'enabled' && (s.expiresAt === undefined || s.expiresAt.getTime() > now)
          ? 'active'
          : 'disabled',
    }));
  }

  async issue(inUse: CredentialRef | undefined): Promise<IssuedCredential> {
    if (inUse !== undefined && !isSlotName(inUse.id))
      throw issuerError(
        'ISSUER_NOT_FOUND',
        this.#where,
        `the credential in use names "${inUse.id}", not a password slot of this token`,
      );
    const before = await this.#read('reading the token before issuing');
    this.#usable(before, 'issuing');
    const slot = targetSlot(before, inUse?.id as SlotName | undefined);
    const g = await generateSlot({
      arm: this.#arm,
      where: this.#where,
      registryPath: this.#registryPath,
      tokenPath: this.#tokenPath,
      slot,
      expiry: new Date(Date.now() + this.#expiryDays * DAY),
      readBack: (doing) => this.#read(doing),
    });
    return {
      ref: { id: slot, label: this.#label(slot), issuedAt: g.issuedAt, expiresAt: g.expiresAt },
      username: this.#c.token,
      password: g.password,
    };
  }

  async revoke(ref: CredentialRef): Promise<void> {
    if (!isSlotName(ref.id))
      throw issuerError(
        'ISSUER_NOT_FOUND',
        this.#where,
        `cannot revoke "${ref.id}": not a password slot of this token`,
      );
    const t = await this.#read(`reading the token before revoking slot ${ref.id}`);
    if (alreadyRevoked(t, ref)) return;
    const keep = SLOT_NAMES.filter((n) => n !== ref.id && t.slots.some((s) => s.name === n));
    const doing = `removing slot ${ref.id}`;
    let after: TokenState;
    try {
      after = parseToken(
        await this.#arm.patch(this.#tokenPath, {
          properties: { credentials: { passwords: keep.map((name) => ({ name })) } },
        }),
      );
    } catch (e) {
      throw mapArmError(e, this.#where, doing, 'tokens/write');
    }
    if (after.slots.some((s) => s.name === ref.id && !alreadyRevoked(after, ref)))
      throw issuerError(
        'ISSUER_UNAVAILABLE',
        this.#where,
        `${doing}: ARM accepted the change but still lists the slot`,
        {
          retryable: true,
        },
      );
  }

  async check(): Promise<string> {
    const t = await this.#read('checking the token');
    this.#usable(t, 'checking the token');
    const slots = t.slots.map((s) => {
      const created = s.createdAt?.toISOString() ?? 'unknown';
      return `${s.name} created ${created}, ${s.expiresAt ? `expires ${s.expiresAt.toISOString()}` : 'never expires'}`;
    });
    return `token ${this.#c.token} of registry ${this.#c.registry} readable as ${this.#where.identity}: enabled, ${slots.length === 0 ? 'no password slots' : slots.join('; ')}`;
  }

  async close(): Promise<void> {
    this.#pool.close();
  }
}

export { acrTokenIssuerSchema, type AcrTokenIssuerConfig } from './schema.ts';

/** The issuer as the registry of issuer types builds it. */
export const createAcrTokenIssuer = (config: AcrTokenIssuerConfig, ctx: IssuerContext): AcrTokenIssuer =>
  new AcrTokenIssuer(config, { maxAgeDays: ctx.maxAgeDays });
