/** The double's world: one tenant, its apps and managed identities, vaults, role assignments, and test knobs. */
import { randomUUID } from 'node:crypto';

export type Role = 'Key Vault Secrets User' | 'Key Vault Secrets Officer';

/** An app registration (service principal) in the tenant. */
export interface App {
  name: string;
  clientId: string;
  objectId: string;
  secret?: string | undefined;
  /** Federated identity credentials: an external issuer's token for `subject` may stand in for a secret. */
  federated: { issuer: string; subject: string; audience: string }[];
}

/** A managed identity; `systemAssigned` is the one IMDS serves when no client_id is asked for. */
export interface ManagedIdentity {
  name: string;
  clientId: string;
  objectId: string;
  systemAssigned: boolean;
}

/** An external OIDC issuer Entra trusts for federation (the stack's kube-apiserver). */
export interface TrustedIssuer {
  issuer: string;
  jwksUrl: string;
}

export interface DoubleConfig {
  tenantId: string;
  vaults: string[];
  apps: App[];
  managedIdentities: ManagedIdentity[];
  roleAssignments: { principalId: string; vault: string; role: Role }[];
  trustedIssuers: TrustedIssuer[];
  /** The secret App Service puts in IDENTITY_HEADER. */
  appServiceHeader: string;
}

export interface SecretVersion {
  version: string;
  value: string;
  contentType?: string | undefined;
  tags?: Record<string, string> | undefined;
  enabled: boolean;
  nbf?: number | undefined;
  exp?: number | undefined;
  created: number;
  updated: number;
}

export interface StoredSecret {
  name: string;
  /** In creation order; the last one is the current version. */
  versions: SecretVersion[];
  deletedDate?: number | undefined;
}

/** Fault injection for the vault data plane, set through the admin API. */
export interface Faults {
  /** Answer this many vault requests with `status` (429 or 503) and Retry-After. */
  status?: number | undefined;
  retryAfterSeconds?: number | undefined;
  times?: number | undefined;
  latencyMs?: number | undefined;
  /** The vault is down: connections to vault hosts are reset. */
  stopped?: boolean | undefined;
  /** Entra issues access tokens for this audience instead of the one asked for (a misrouted token). */
  tokenAudience?: string | undefined;
}

export interface RequestLogEntry {
  at: string;
  host: string;
  method: string;
  path: string;
  apiVersion: string | null;
  authorized: boolean;
  status: number;
}

/** The mutable state every route reads. Vault contents live in memory, as in OpenBao's dev server. */
export class World {
  readonly config: DoubleConfig;
  readonly vaults = new Map<string, Map<string, StoredSecret>>();
  faults: Faults = {};
  readonly log: RequestLogEntry[] = [];

  constructor(config: DoubleConfig) {
    this.config = config;
    for (const v of config.vaults) this.vaults.set(v, new Map());
  }

  appByClientId(id: string): App | undefined {
    return this.config.apps.find((a) => a.clientId.toLowerCase() === id.toLowerCase());
  }

  roleOf(principalId: string, vault: string): Role | undefined {
    const roles = this.config.roleAssignments
      .filter((r) => r.principalId === principalId && r.vault === vault)
      .map((r) => r.role);
    return roles.includes('Key Vault Secrets Officer') ? 'Key Vault Secrets Officer' : roles[0];
  }

  record(e: Omit<RequestLogEntry, 'at'>): void {
    this.log.push({ at: new Date().toISOString(), ...e });
    if (this.log.length > 2000) this.log.splice(0, this.log.length - 2000);
  }
}

/** A 32-hex version id, as Key Vault generates them. */
export const newVersion = (): string => randomUUID().replaceAll('-', '');
