import { resolve } from 'node:path';
import { Sensitive } from '../../base/sensitive.ts';
import { RotatorError } from '../../errors.ts';
import { ConnectionPool } from '../../net/http.ts';
import { readSecretRef, type IssuerContext } from '../context.ts';
import type { CredentialRef, IssuedCredential, Issuer, ManagedCredential } from '../types.ts';
import { HarborClient, type HarborRobot } from './client.ts';
import type { HarborRobotIssuerConfig } from './schema.ts';

export type HarborIssuerContext = Pick<IssuerContext, 'logger' | 'baseDir'> & {
  readStoreKey?: IssuerContext['readStoreKey'] | undefined;
  now?: (() => number) | undefined;
};

const DAY_MS = 86_400_000;
const PROJECT_ADMIN = 1;
/** Harbor's default `robot_name_prefix`. */
const DEFAULT_PREFIX = 'robot$';
type Slot = 'a' | 'b';
const SLOTS: readonly Slot[] = ['a', 'b'];

/**
 * Harbor robot accounts, used in pairs (`paired-accounts`): a robot has one secret and a refresh
 * invalidates the old one at once, so the issuer refreshes the robot that is *not* in use and leaves the
 * other working until it is revoked (disabled). The robots are the project robots `<robot>-a` and `-b`,
 * `robot$<project>+<robot>-a` with Harbor's default `robot_name_prefix`; their full names are taken as
 * Harbor reports them, so a Harbor with another prefix works the same. Every step is safe to repeat:
 * issuing twice without storing refreshes the same robot again (never a third robot), a create that raced
 * another run (409) becomes a refresh, revoking a disabled or deleted robot is done. Managing robots
 * needs a Harbor user with robot:create/update (a project admin): Harbor never grants a robot
 * `robot:update`, and answers a robot's refresh or update with 403.
 */
export class HarborRobotIssuer implements Issuer {
  readonly type = 'harbor-robot';
  readonly class = 'paired-accounts' as const;
  readonly #c: HarborRobotIssuerConfig;
  readonly #ctx: HarborIssuerContext;
  readonly #pool: ConnectionPool;
  #client: Promise<HarborClient> | undefined;
  #projectId: number | undefined;

  constructor(config: HarborRobotIssuerConfig, ctx: HarborIssuerContext) {
    this.#c = config;
    this.#ctx = ctx;
    this.#pool = new ConnectionPool(
      config.caFile === undefined ? undefined : resolve(ctx.baseDir, config.caFile),
    );
  }

  /** The two robots' names with Harbor's default prefix, in the order they are first used (for messages). */
  get names(): [string, string] {
    return [this.#display('a'), this.#display('b')];
  }

  /** A robot's stored name (`<project>+<robot>-a`): its full name is Harbor's prefix and this. */
  #stored(slot: Slot): string {
    return `${this.#c.project}+${this.#c.robot}-${slot}`;
  }

  #display(slot: Slot, prefix = DEFAULT_PREFIX): string {
    return prefix + this.#stored(slot);
  }

  /** Which of the pair a full name is, whatever prefix the Harbor puts before it. */
  #slotOf(fullName: string): Slot | undefined {
    return SLOTS.find((slot) => fullName.endsWith(this.#stored(slot)));
  }

  #now(): number {
    return this.#ctx.now?.() ?? Date.now();
  }

  #password(): Promise<Sensitive> {
    return readSecretRef(
      this.#c.login.password,
      this.#ctx,
      `harbor ${this.#c.url} login "${this.#c.login.username}"`,
    );
  }

  #api(): Promise<HarborClient> {
    this.#client ??= this.#password().then(
      (password) =>
        new HarborClient({
          url: this.#c.url,
          username: this.#c.login.username,
          password,
          pool: this.#pool,
          timeoutMs: this.#c.requestTimeoutSeconds * 1000,
        }),
    );
    return this.#client;
  }

  async #project(api: HarborClient): Promise<number> {
    this.#projectId ??= (await api.project(this.#c.project)).project_id;
    return this.#projectId;
  }

  /**
   * Our two robots as Harbor lists them now, by slot. The listing is of our project only, so a listed
   * name ending in `<project>+<robot>-a` is that robot, whatever Harbor's `robot_name_prefix` is.
   */
  async #robots(api: HarborClient): Promise<Map<Slot, HarborRobot>> {
    const found = await api.listRobots(
      await this.#project(api),
      `${this.#c.project}+${this.#c.robot}-`,
      this.#c.project,
    );
    const out = new Map<Slot, HarborRobot>();
    for (const r of found) {
      const slot = this.#slotOf(r.name);
      if (slot) out.set(slot, r);
    }
    return out;
  }

  /** The prefix this Harbor puts before robot names, as its listing shows; the default before any exists. */
  #prefix(robots: Map<Slot, HarborRobot>): string {
    for (const [slot, r] of robots) return r.name.slice(0, r.name.length - this.#stored(slot).length);
    return DEFAULT_PREFIX;
  }

  #ref(r: Pick<HarborRobot, 'name' | 'expires_at'>, issuedAt: string): CredentialRef {
    return {
      id: r.name,
      label: `robot ${r.name}`,
      issuedAt: new Date(issuedAt),
      expiresAt: r.expires_at > 0 ? new Date(r.expires_at * 1000) : undefined,
    };
  }

  async list(): Promise<ManagedCredential[]> {
    const api = await this.#api();
    const robots = await this.#robots(api);
    const now = this.#now();
    return SLOTS.flatMap((slot) => {
      const r = robots.get(slot);
      if (!r) return [];
      // Harbor keeps no separate "secret issued" time: update_time moves on a refresh (and on enable/disable).
      const ref = this.#ref(r, r.update_time);
      const expired = ref.expiresAt !== undefined && ref.expiresAt.getTime() <= now;
      return [{ ...ref, state: r.disable || expired ? 'disabled' : 'active' } satisfies ManagedCredential];
    });
  }

  /** The robot's `duration` (days from its creation) that keeps a secret issued now valid for `durationDays`. */
  #duration(createdMs: number): number {
    if (this.#c.durationDays === -1) return -1;
    return Math.ceil((this.#now() - createdMs) / DAY_MS) + this.#c.durationDays;
  }

  #access(): { kind: string; namespace: string; access: { resource: string; action: string }[] }[] {
    return [{ kind: 'project', namespace: this.#c.project, access: this.#c.permissions }];
  }

  async issue(inUse: CredentialRef | undefined): Promise<IssuedCredential> {
    const api = await this.#api();
    const slot: Slot = inUse && this.#slotOf(inUse.id) === 'a' ? 'b' : 'a';
    const short = `${this.#c.robot}-${slot}`;
    const robots = await this.#robots(api);
    let robot = robots.get(slot);
    const target = robot?.name ?? this.#display(slot, this.#prefix(robots));
    if (!robot) {
      // Harbor lets a robot holding robot:create create robots, but never refresh, enable or disable
      // them: a robot it made could never be rotated or revoked. So make sure of who we are first; a
      // refresh needs no such question, Harbor's 403 refuses a robot by itself.
      const identity = await api.identity();
      if (identity.kind === 'robot')
        throw api.robotRefused(
          { object: `robot ${target}`, permission: 'robot:create' },
          `(${identity.why})`,
        );
      const created = await api.createRobot(
        {
          name: short,
          description: 'managed by regcred-rotator: used in turn with its pair',
          level: 'project',
          duration: this.#c.durationDays,
          disable: false,
          permissions: this.#access(),
        },
        target,
      );
      if (created !== 'exists') {
        this.#log('harbor robot created', created.robot.name);
        return {
          ref: this.#ref(created.robot, created.robot.creation_time),
          username: created.robot.name,
          password: created.secret,
        };
      }
      // It appeared since the listing (another run, or our own POST retried after a lost answer): refresh it.
      robot = (await this.#robots(api)).get(slot);
      if (!robot)
        throw api.fail(
          'ISSUER_UNAVAILABLE',
          `robot ${target}: Harbor reports it exists but does not list it`,
        );
    }
    // Refresh while it may still be disabled, then enable: re-enabling first would revive its old secret.
    const password = await api.refreshSecret(robot.id, robot.name);
    await api.updateRobot(
      robot.id,
      {
        ...robot,
        disable: false,
        duration: this.#duration(Date.parse(robot.creation_time)),
        permissions: this.#access(),
      },
      robot.name,
    );
    const after = (await api.robot(robot.id, robot.name)) ?? robot;
    this.#log('harbor robot secret refreshed', robot.name);
    return { ref: this.#ref(after, after.update_time), username: robot.name, password };
  }

  async revoke(ref: CredentialRef): Promise<void> {
    const slot = this.#slotOf(ref.id);
    if (!slot)
      throw new RotatorError(
        'OWNERSHIP',
        `harbor ${this.#c.url}: ${ref.label} is not one of this issuer's robots (${this.names.join(', ')})`,
      );
    const api = await this.#api();
    const robot = (await this.#robots(api)).get(slot);
    if (!robot || robot.disable) return;
    // A name of another project can end like ours (`robot$x-team-a+pull-a`): only this exact robot is ours.
    if (robot.name !== ref.id)
      throw new RotatorError(
        'OWNERSHIP',
        `harbor ${this.#c.url}: ${ref.label} is not one of this issuer's robots (it has ${robot.name})`,
      );
    await api.updateRobot(robot.id, { ...robot, disable: true }, robot.name);
    this.#log('harbor robot disabled', robot.name);
  }

  async check(): Promise<string> {
    const api = await this.#api();
    const user = await api.currentUser({
      object: `the robots of project ${this.#c.project}`,
      permission: 'robot:create',
    });
    const project = await api.project(this.#c.project);
    const roles = project.current_user_role_ids ?? [];
    if (!user.sysadmin_flag && !roles.includes(PROJECT_ADMIN))
      throw api.fail(
        'ISSUER_PERMISSION',
        `user "${user.username}" is not a project admin of ${this.#c.project} (role ids ${JSON.stringify(roles)}): refreshing and disabling robots needs robot:create, robot:update and robot:list`,
      );
    this.#projectId = project.project_id;
    const robots = await this.#robots(api);
    const role = user.sysadmin_flag ? 'system admin' : 'project admin';
    const names = SLOTS.map((s) => robots.get(s)?.name ?? this.#display(s, this.#prefix(robots)));
    return `harbor ${api.url} project ${this.#c.project}: user ${user.username} (${role}); robots ${names.join(', ')}: ${robots.size} exist`;
  }

  #log(msg: string, robot: string): void {
    this.#ctx.logger.info({ issuer: this.type, registry: this.#c.url, project: this.#c.project, robot }, msg);
  }

  close(): Promise<void> {
    this.#pool.close();
    return Promise.resolve();
  }
}

export function createHarborRobotIssuer(
  config: HarborRobotIssuerConfig,
  ctx: HarborIssuerContext,
): HarborRobotIssuer {
  return new HarborRobotIssuer(config, ctx);
}
