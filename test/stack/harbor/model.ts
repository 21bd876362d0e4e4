/**
 * The Harbor double's state, in memory: users, projects with their members, robots (only a salted hash of
 * each secret, as Harbor keeps), the per-name login lock, and the clock (which tests may skew to reach a
 * robot's expiry without waiting days). Permission checks follow Harbor's evaluators (rbac.ts).
 */
import { createHash, randomInt, timingSafeEqual } from 'node:crypto';
import { PROJECT_ROBOT_PERMISSIONS, PUBLIC_PROJECT, ROLES, SYSTEM_ROBOT_PERMISSIONS } from './rbac.ts';

export interface User {
  id: number;
  username: string;
  email: string;
  realname: string;
  comment: string;
  sysadmin: boolean;
  salt: string;
  hash: string;
  created: number;
  updated: number;
}

export interface Project {
  id: number;
  name: string;
  public: boolean;
  ownerId: number;
  created: number;
  updated: number;
  /** user id → role id */
  members: Map<number, number>;
}

export interface Access {
  resource: string;
  action: string;
  effect?: string | undefined;
}

/** As stored: the scope is a project id, `*` (all projects) or `/` (system). */
export interface StoredPermission {
  kind: 'project' | 'system';
  scope: number | '*' | '/';
  access: Access[];
}

export interface Robot {
  id: number;
  /** Stored name: `team-a+ci` for a project robot, `ci` for a system robot (no `robot$` prefix). */
  name: string;
  description: string;
  salt: string;
  hash: string;
  duration: number;
  /** 0 for a system robot. */
  projectId: number;
  /** Epoch seconds, -1 for never. */
  expiresAt: number;
  disabled: boolean;
  creatorType: string;
  creatorRef: number;
  created: number;
  updated: number;
  permissions: StoredPermission[];
}

/** Who a request is (Harbor's security contexts). */
export type Principal =
  | { kind: 'anonymous' }
  | { kind: 'user'; user: User }
  | { kind: 'robot'; robot: Robot }
  /** A registry bearer token: its subject and the actions it carries per project name. */
  | { kind: 'token'; name: string; access: Map<string, Set<string>>; iat: number };

/** Harbor's default `robot_name_prefix`: what every robot's full name starts with unless configured. */
export const ROBOT_PREFIX = 'robot$';
const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** Harbor's rule for robot secrets and user passwords. */
export const validSecret = (s: string): boolean =>
  s.length >= 8 && s.length <= 128 && /[a-z]/.test(s) && /[A-Z]/.test(s) && /\d/.test(s);

export function randomString(n = 32): string {
  let s = '';
  for (let i = 0; i < n; i++) s += ALNUM.charAt(randomInt(ALNUM.length));
  return s;
}

const digest = (secret: string, salt: string): string =>
  createHash('sha256')
    .update(secret + salt)
    .digest('hex');

export function hashMatches(secret: string, salt: string, hash: string): boolean {
  const a = Buffer.from(digest(secret, salt));
  const b = Buffer.from(hash);
  return a.length === b.length && timingSafeEqual(a, b);
}

export class World {
  readonly users = new Map<number, User>();
  readonly projects = new Map<number, Project>();
  readonly robots = new Map<number, Robot>();
  /** name → when its last failed login happened (real time: the lock is about wall-clock seconds). */
  readonly loginFailures = new Map<string, number>();
  /** Harbor's `frozenTime`; the admin API can set it to 0 for tests that do not measure it. */
  penaltyMs = 1500;
  /** Added to the real clock for everything Harbor stores (creation, expiry); not for tokens. */
  skewMs = 0;
  /**
   * Harbor's `robot_name_prefix` (ROBOT_NAME_PREFIX): a robot's full name is this plus its stored name,
   * and only a Basic name with this prefix is tried as a robot. Installations change it because `$` is
   * awkward in shells and CI variables; a robot's name then need not look like `robot$…` at all.
   */
  readonly robotPrefix: string;
  #ids = { user: 2, project: 0, robot: 0 };
  readonly #adminPassword: string;

  constructor(adminPassword: string, robotPrefix = ROBOT_PREFIX) {
    this.#adminPassword = adminPassword;
    this.robotPrefix = robotPrefix;
    this.reset();
  }

  /** A robot's full name, as Harbor shows it and as it logs in. */
  robotName(r: Robot): string {
    return this.robotPrefix + r.name;
  }

  now(): number {
    return Date.now() + this.skewMs;
  }

  /** Back to a fresh install: user `admin` (id 1), the public project `library` (id 1). */
  reset(): void {
    this.users.clear();
    this.projects.clear();
    this.robots.clear();
    this.loginFailures.clear();
    this.penaltyMs = 1500;
    this.skewMs = 0;
    this.#ids = { user: 2, project: 0, robot: 0 };
    const t = this.now();
    const salt = randomString();
    this.users.set(1, {
      id: 1,
      username: 'admin',
      email: 'admin@example.com',
      realname: 'system admin',
      comment: 'admin user',
      sysadmin: true,
      salt,
      hash: digest(this.#adminPassword, salt),
      created: t,
      updated: t,
    });
    this.createProject('library', true, 1);
  }

  createUser(u: Pick<User, 'username' | 'email' | 'realname' | 'comment'>, password: string): User {
    const t = this.now();
    const salt = randomString();
    const user: User = {
      ...u,
      id: ++this.#ids.user,
      sysadmin: false,
      salt,
      hash: digest(password, salt),
      created: t,
      updated: t,
    };
    this.users.set(user.id, user);
    return user;
  }

  userByName(name: string): User | undefined {
    for (const u of this.users.values()) if (u.username === name) return u;
    return undefined;
  }

  createProject(name: string, isPublic: boolean, ownerId: number): Project {
    const t = this.now();
    const p: Project = {
      id: ++this.#ids.project,
      name,
      public: isPublic,
      ownerId,
      created: t,
      updated: t,
      members: new Map(),
    };
    p.members.set(ownerId, 1); // the creator becomes its project admin
    this.projects.set(p.id, p);
    return p;
  }

  project(nameOrId: string | number): Project | undefined {
    if (typeof nameOrId === 'number') return this.projects.get(nameOrId);
    for (const p of this.projects.values()) if (p.name === nameOrId) return p;
    return undefined;
  }

  /** Creates a robot with a fresh secret; returns it and the secret (shown once). */
  createRobot(r: Omit<Robot, 'id' | 'salt' | 'hash' | 'created' | 'updated' | 'expiresAt'>): {
    robot: Robot;
    secret: string;
  } {
    const t = this.now();
    const secret = newSecret();
    const salt = randomString();
    const robot: Robot = {
      ...r,
      id: ++this.#ids.robot,
      salt,
      hash: digest(secret, salt),
      created: t,
      updated: t,
      expiresAt: r.duration === -1 ? -1 : Math.floor(addDays(t, r.duration) / 1000),
    };
    this.robots.set(robot.id, robot);
    return { robot, secret };
  }

  setRobotSecret(robot: Robot, secret: string): void {
    robot.hash = digest(secret, robot.salt);
    robot.updated = this.now();
  }

  robotByName(stored: string): Robot | undefined {
    for (const r of this.robots.values()) if (r.name === stored) return r;
    return undefined;
  }

  robotExpired(r: Robot): boolean {
    return r.expiresAt !== -1 && r.expiresAt <= Math.floor(this.now() / 1000);
  }

  userPasswordOk(u: User, password: string): boolean {
    return hashMatches(password, u.salt, u.hash);
  }

  /** Can `p` do `action` on `resource` (`""` = the project itself) of `project`? */
  canProject(p: Principal, project: Project | undefined, resource: string, action: string): boolean {
    if (p.kind === 'user' && p.user.sysadmin) return true;
    if (!project) return false;
    const key = `${resource}:${action}`;
    if (p.kind === 'token') {
      return resource === 'repository' && (p.access.get(project.name)?.has(action) ?? false);
    }
    if (project.public && PUBLIC_PROJECT.has(key)) return true;
    if (p.kind === 'user') {
      const role = project.members.get(p.user.id);
      return role !== undefined && (ROLES[role]?.policies.has(key) ?? false);
    }
    if (p.kind === 'robot') {
      for (const perm of p.robot.permissions) {
        if (perm.kind !== 'project' || (perm.scope !== '*' && perm.scope !== project.id)) continue;
        for (const a of perm.access) {
          if (a.effect === 'deny') continue;
          // A robot's `project` resource is the project itself (getPolicyResource).
          const res = a.resource === 'project' ? '' : a.resource;
          if (res === resource && (a.action === action || a.action === '*')) return true;
          // Harbor's robot filter: push implies pull.
          if (res === resource && a.action === 'push' && action === 'pull') return true;
        }
      }
    }
    return false;
  }

  canSystem(p: Principal, resource: string, action: string): boolean {
    if (p.kind === 'user') return p.user.sysadmin;
    if (p.kind !== 'robot' || p.robot.projectId !== 0) return false;
    return p.robot.permissions.some(
      (perm) =>
        perm.kind === 'system' && perm.access.some((a) => a.resource === resource && a.action === action),
    );
  }
}

/** A secret Harbor would generate: 32 alphanumerics with upper, lower and a digit. */
export function newSecret(): string {
  for (;;) {
    const s = randomString(32);
    if (validSecret(s)) return s;
  }
}

/** Go's `time.AddDate(0, 0, n)`: calendar days, which in UTC are 86 400 s each. */
export const addDays = (ms: number, days: number): number => ms + days * 86_400_000;

export const isValidPermission = (kind: string, resource: string, action: string): boolean =>
  (kind === 'project' ? PROJECT_ROBOT_PERMISSIONS : SYSTEM_ROBOT_PERMISSIONS).has(`${resource}:${action}`);

export const isAuthenticated = (p: Principal): boolean =>
  p.kind === 'user' || p.kind === 'robot' || (p.kind === 'token' && p.name !== '');

export const principalName = (w: World, p: Principal): string =>
  p.kind === 'user'
    ? p.user.username
    : p.kind === 'robot'
      ? w.robotName(p.robot)
      : p.kind === 'token'
        ? p.name
        : '';
