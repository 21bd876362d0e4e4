import type { Logger } from '../../base/logger.ts';
import type { Sensitive } from '../../base/sensitive.ts';
import { RotatorError } from '../../errors.ts';
import { ConnectionPool } from '../../net/http.ts';
import { readSecretRef, type IssuerContext } from '../context.ts';
import type { CredentialRef, IssuedCredential, Issuer, ManagedCredential } from '../types.ts';
import { GiteaClient, type GiteaToken } from './client.ts';
import { parseTokenName, tokenName } from './names.ts';
import type { GiteaTokenIssuerConfig } from './schema.ts';

export interface GiteaIssuerDeps {
  /** The target's name: part of every token name, so each target sees only its own tokens. */
  target: string;
  /** Reads the login's password or management token (a store key or a file: context.ts readSecretRef). */
  password: () => Promise<Sensitive>;
  logger: Logger;
  now?: () => Date;
}

/**
 * Gitea / Forgejo access tokens as registry credentials (`many-tokens`): any number of tokens per user are
 * valid at once, so issue creates a new one and revoke deletes the old one. Ours are told apart by name
 * (names.ts); a token of any other name is never listed, and never deleted.
 */
export class GiteaTokenIssuer implements Issuer {
  readonly type = 'gitea-token';
  readonly class = 'many-tokens';
  readonly #c: GiteaTokenIssuerConfig;
  readonly #d: GiteaIssuerDeps;
  readonly #pool: ConnectionPool;
  readonly #client: GiteaClient;
  readonly #log: Logger;

  constructor(config: GiteaTokenIssuerConfig, deps: GiteaIssuerDeps) {
    this.#c = config;
    this.#d = deps;
    this.#pool = new ConnectionPool(config.caFile);
    this.#log = deps.logger.child({ issuer: 'gitea-token', target: deps.target, user: config.user });
    this.#client = new GiteaClient({
      url: config.url.replace(/\/+$/, ''),
      login: config.login.username,
      password: deps.password,
      pool: this.#pool,
      timeoutMs: config.requestTimeoutSeconds * 1000,
      logger: this.#log,
    });
  }

  #now(): Date {
    return (this.#d.now ?? (() => new Date()))();
  }

  #managed(t: GiteaToken): ManagedCredential | undefined {
    const named = parseTokenName(this.#d.target, t.name);
    if (named === undefined) return undefined;
    return {
      id: String(t.id),
      label: `token ${t.name} of ${this.#c.user}`,
      // Gitea's own record first; the name's stamp is what we asked for, seconds before.
      issuedAt: t.created ?? named,
      state: 'active',
    };
  }

  async list(): Promise<ManagedCredential[]> {
    const tokens = await this.#client.listTokens(this.#c.user);
    return tokens.flatMap((t) => this.#managed(t) ?? []);
  }

  async issue(_inUse: CredentialRef | undefined): Promise<IssuedCredential> {
    const name = tokenName(this.#d.target, this.#now());
    let made = await this.#client.createToken(this.#c.user, name, this.#c.scopes);
    if (made === undefined) {
      // The name is taken: an earlier attempt of this request reached Gitea but its answer (the only copy
      // of the value) was lost. That token can never be used; delete it and create it again.
      this.#log.warn({ token: name }, 'gitea token of a lost answer deleted');
      await this.#client.deleteToken(this.#c.user, name, `token "${name}"`);
      made = await this.#client.createToken(this.#c.user, name, this.#c.scopes);
      if (made === undefined)
        throw new RotatorError('ISSUER_REJECTED', `gitea ${this.#c.url}: token name "${name}" is taken`);
    }
    // What list() will report (Gitea's created_at, whole seconds): the create that answered ran just now,
    // after any retry waits, which the name's stamp (taken before the first attempt) does not include.
    const issuedAt = new Date(Math.floor(this.#now().getTime() / 1000) * 1000);
    this.#log.info({ tokenId: made.id, tokenName: name, scopes: this.#c.scopes }, 'gitea token created');
    return {
      ref: { id: String(made.id), label: `token ${name} of ${this.#c.user}`, issuedAt },
      username: this.#c.user,
      password: made.value,
    };
  }

  /** For dry runs and `status`: what issue() would do. Nothing is asked of Gitea. */
  describeIssue(inUse: CredentialRef | undefined, atRegistry: readonly ManagedCredential[]): string {
    const what = `create a ${this.#c.scopes.join(',')} token of user "${this.#c.user}" at ${this.#c.url}`;
    const ours = `${atRegistry.length} of target "${this.#d.target}" there now`;
    if (inUse === undefined) return `${what} (${ours})`;
    const days = Math.floor((this.#now().getTime() - inUse.issuedAt.getTime()) / 86_400_000);
    return `${what}; ${inUse.label} (issued ${days} days ago) stays valid until revoked (${ours})`;
  }

  async revoke(ref: CredentialRef): Promise<void> {
    // Prove ownership first: the id must belong to a token of ours (by name) right now.
    const tokens = await this.#client.listTokens(this.#c.user);
    const t = tokens.find((x) => String(x.id) === ref.id);
    if (t === undefined) {
      this.#log.info({ tokenId: ref.id }, 'gitea token already gone');
      return;
    }
    if (this.#managed(t) === undefined) {
      throw new RotatorError(
        'OWNERSHIP',
        `gitea ${this.#c.url}: token ${ref.id} ("${t.name}") of user "${this.#c.user}" was not minted for target "${this.#d.target}"; not deleting it`,
        { details: { issuer: 'gitea-token', url: this.#c.url, user: this.#c.user, tokenId: ref.id } },
      );
    }
    const deleted = await this.#client.deleteToken(this.#c.user, ref.id, `token ${ref.id} ("${t.name}")`);
    this.#log.info({ tokenId: ref.id, tokenName: t.name, deleted }, 'gitea token revoked');
  }

  async check(): Promise<string> {
    const me = await this.#client.whoami();
    const ours = (await this.list()).length;
    const as = me.isAdmin ? `site admin "${me.login}" (more privilege than needed)` : `"${me.login}"`;
    return `gitea ${this.#c.url}: signed in as ${as}; may manage the tokens of "${this.#c.user}" (${ours} of target "${this.#d.target}")`;
  }

  async close(): Promise<void> {
    this.#pool.close();
  }
}

/** The issuer as the registry of issuer types builds it. */
export function createGiteaTokenIssuer(config: GiteaTokenIssuerConfig, ctx: IssuerContext): GiteaTokenIssuer {
  return new GiteaTokenIssuer(config, {
    target: ctx.target,
    password: () =>
      readSecretRef(config.login.password, ctx, `gitea ${config.url} login "${config.login.username}"`),
    logger: ctx.logger,
    now: ctx.now,
  });
}
