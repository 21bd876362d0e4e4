/**
 * `/api/v2.0/robots`, in the order Harbor's handler (server/v2.0/handler/robot.go) checks things, so that
 * a request failing two ways gets the same answer: create (name rule, duration/level/permission rules,
 * access, scope of a robot creator, project, 409), list (system robots unless `q=Level=project,ProjectID=N`;
 * `q` unescaped twice, so `+` in an exact name is a space), get, update (the full object, the name and
 * level unchanged, duration recomputed from the creation time), refresh (generated or chosen secret) and
 * delete. A robot never holds `robot:update`, so its refresh or update is a 403.
 */
import {
  addDays,
  isValidPermission,
  newSecret,
  validSecret,
  type Access,
  type Robot,
  type StoredPermission,
  type World,
} from './model.ts';
import { API, getProject, page, requireAuthenticated, requireProjectAccess, type Call } from './call.ts';
import { HarborError, empty, iso, jsonBody, queryUnescape, sendJson, sorted } from './wire.ts';

interface PermissionIn {
  kind?: string;
  namespace?: string;
  access?: (Access | null)[] | null;
}
interface RobotIn {
  name?: string;
  description?: string;
  level?: string;
  duration?: number | null;
  disable?: boolean;
  permissions?: (PermissionIn | null)[] | null;
}

const NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
const MAX_INT32 = 2 ** 31 - 1;

function validate(duration: number, level: string, perms: RobotIn['permissions']): PermissionIn[] {
  if (!(duration === -1 || (duration > 0 && duration < MAX_INT32)))
    throw new HarborError(
      'BAD_REQUEST',
      `bad request error duration input: ${duration}, duration must be either -1(Never) or a positive integer`,
    );
  if (level !== 'system' && level !== 'project')
    throw new HarborError('BAD_REQUEST', `bad request error level input: ${level}`);
  if (!perms || perms.length === 0) throw new HarborError('BAD_REQUEST', 'bad request empty permission');
  for (const p of perms) {
    if (!p) throw new HarborError('BAD_REQUEST', 'bad request empty permission');
    if (!p.access || p.access.length === 0 || p.access.some((a) => !a))
      throw new HarborError('BAD_REQUEST', 'bad request empty access');
  }
  if (level === 'project' && perms.length > 1) throw new HarborError('BAD_REQUEST', 'bad request permission');
  const out = perms as PermissionIn[];
  for (const p of out) {
    if (p.kind !== 'system' && p.kind !== 'project')
      throw new HarborError('BAD_REQUEST', `bad request permission level: ${p.kind ?? ''}`);
    for (const a of p.access as Access[])
      if (!isValidPermission(p.kind, a.resource, a.action))
        throw new HarborError('BAD_REQUEST', `bad request permission: ${a.resource}:${a.action}`);
  }
  return out;
}

export class Robots {
  readonly #w: World;
  constructor(world: World) {
    this.#w = world;
  }

  async handle(c: Call, m: string, seg: string[]): Promise<void> {
    if (seg.length === 1 && m === 'POST') return this.#create(c);
    if (seg.length === 1 && m === 'GET') return this.#list(c);
    if (seg.length === 2) {
      if (!/^\d+$/.test(seg[1]!))
        throw new HarborError('BAD_REQUEST', `robot_id in path must be of type int64: "${seg[1]}"`);
      const id = Number(seg[1]);
      if (m === 'GET') return this.#get(c, id);
      if (m === 'PUT') return this.#update(c, id);
      if (m === 'PATCH') return this.#refresh(c, id);
      if (m === 'DELETE') return this.#delete(c, id);
    }
    throw new HarborError('NOT_FOUND', `path ${c.url.pathname} was not found`);
  }

  #toJson(r: Robot): Record<string, unknown> {
    const perms = [];
    for (const p of r.permissions) {
      const namespace = p.scope === '/' || p.scope === '*' ? p.scope : this.#w.projects.get(p.scope)?.name;
      if (namespace === undefined) continue; // the project is gone: Harbor leaves the permission out
      perms.push(
        sorted({
          access: p.access.map((a) =>
            sorted({ action: a.action, effect: a.effect || undefined, resource: a.resource }),
          ),
          kind: p.kind,
          namespace,
        }),
      );
    }
    return sorted({
      creation_time: iso(r.created),
      creator_ref: r.creatorRef || undefined,
      creator_type: r.creatorType || undefined,
      description: r.description || undefined,
      disable: r.disabled,
      duration: r.duration,
      editable: true,
      expires_at: r.expiresAt || undefined,
      id: r.id,
      level: r.projectId === 0 ? 'system' : 'project',
      name: this.#w.robotName(r),
      permissions: perms,
      update_time: iso(r.updated),
    });
  }

  #robot(id: number): Robot {
    const r = this.#w.robots.get(id);
    if (!r) throw new HarborError('NOT_FOUND', `robot ${id} not found`);
    return r;
  }

  #requireAccess(c: Call, level: string, projectId: number | string, action: string): void {
    if (level === 'system') {
      requireAuthenticated(c.p);
      if (!this.#w.canSystem(c.p, 'robot', action))
        throw new HarborError(
          'FORBIDDEN',
          c.p.kind === 'user' ? c.p.user.username : c.p.kind === 'robot' ? this.#w.robotName(c.p.robot) : '',
        );
      return;
    }
    if (level === 'project')
      return requireProjectAccess(this.#w, c.p, this.#w.project(projectId), 'robot', action);
    throw new HarborError('FORBIDDEN', 'forbidden');
  }

  #store(perms: PermissionIn[]): StoredPermission[] {
    return perms.map((p) => {
      let scope: StoredPermission['scope'];
      if (p.kind === 'system') {
        if (p.namespace !== '/') throw new HarborError('BAD_REQUEST', 'unknown namespace');
        scope = '/';
      } else if (p.namespace === '*') scope = '*';
      else scope = getProject(this.#w, p.namespace ?? '').id;
      const access = (p.access as Access[]).map((a) => ({
        resource: a.resource,
        action: a.action,
        ...(a.effect ? { effect: a.effect } : {}),
      }));
      return { kind: p.kind as 'system' | 'project', scope, access };
    });
  }

  async #create(c: Call): Promise<void> {
    const b = await jsonBody<RobotIn>(c.req, 'robot');
    if (!NAME.test(b.name ?? ''))
      throw new HarborError('BAD_REQUEST', 'robot name is not in lower case or contains illegal characters');
    const level = b.level ?? '';
    const perms = validate(b.duration ?? 0, level, b.permissions);
    const ns = perms[0]!.namespace ?? '';
    this.#requireAccess(c, level, /^\d+$/.test(ns) ? Number(ns) : ns, 'create');
    if (c.p.kind === 'robot' && !withinCreatorScope(perms, this.#w, c.p.robot))
      throw new HarborError(
        'DENIED',
        `permission scope is invalid. It must be equal to or more restrictive than the creator robot's permissions: ${this.#w.robotName(c.p.robot)}`,
      );
    const project = level === 'project' ? getProject(this.#w, /^\d+$/.test(ns) ? Number(ns) : ns) : undefined;
    const stored = project ? `${project.name}+${b.name}` : b.name!;
    const projectId = project?.id ?? 0;
    for (const r of this.#w.robots.values())
      if (r.name === stored && r.projectId === projectId)
        throw new HarborError('CONFLICT', `robot account ${projectId}:${stored} already exists`);
    // POST never takes a caller's secret, nor `disable`: a new robot is enabled with a generated secret.
    const { robot, secret } = this.#w.createRobot({
      name: stored,
      description: b.description ?? '',
      duration: b.duration!,
      projectId,
      disabled: false,
      creatorType: c.p.kind === 'robot' ? 'robot' : 'local',
      creatorRef: c.p.kind === 'robot' ? c.p.robot.id : c.p.kind === 'user' ? c.p.user.id : 0,
      permissions: this.#store(perms),
    });
    sendJson(
      c.res,
      201,
      sorted({
        creation_time: iso(robot.created),
        expires_at: robot.expiresAt || undefined,
        id: robot.id,
        name: this.#w.robotName(robot),
        secret,
      }),
      { location: `${API}/robots/${robot.id}` },
    );
  }

  #list(c: Call): void {
    requireAuthenticated(c.p);
    const raw = c.url.searchParams.get('q') ?? '';
    const kw = parseQuery(raw);
    let level = 'system';
    let projectId = 0;
    if (kw.has('Level')) {
      level = kw.get('Level')!.value;
      if (level !== 'system' && level !== 'project')
        throw new HarborError('BAD_REQUEST', 'bad request error level input');
      if (level === 'project') {
        if (!kw.has('ProjectID'))
          throw new HarborError('BAD_REQUEST', 'must with project ID when to query project robots');
        projectId = Number(kw.get('ProjectID')!.value);
        if (!Number.isInteger(projectId) || projectId <= 0)
          throw new HarborError('BAD_REQUEST', 'ProjectID must be a positive integer');
      }
    }
    this.#requireAccess(c, level, projectId, 'list');
    const name = kw.get('name') ?? kw.get('Name');
    const list = [...this.#w.robots.values()]
      .filter((r) => r.projectId === projectId)
      .filter((r) =>
        name === undefined ? true : name.fuzzy ? r.name.includes(name.value) : r.name === name.value,
      )
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const { items, headers } = page(c, list);
    sendJson(
      c.res,
      200,
      items.map((r) => this.#toJson(r)),
      headers,
    );
  }

  #get(c: Call, id: number): void {
    requireAuthenticated(c.p);
    const r = this.#robot(id);
    this.#requireAccess(c, r.projectId === 0 ? 'system' : 'project', r.projectId, 'read');
    sendJson(c.res, 200, this.#toJson(r));
  }

  async #update(c: Call, id: number): Promise<void> {
    requireAuthenticated(c.p);
    const r = this.#robot(id);
    const b = await jsonBody<RobotIn>(c.req, 'robot');
    const duration = b.duration ?? r.duration;
    const level = b.level ?? '';
    const perms = validate(duration, level, b.permissions);
    const currentLevel = r.projectId === 0 ? 'system' : 'project';
    if (currentLevel !== 'system') {
      const ns = perms[0]!.namespace ?? '';
      const project = getProject(this.#w, /^\d+$/.test(ns) ? Number(ns) : ns);
      if (project.id !== r.projectId)
        throw new HarborError('BAD_REQUEST', 'cannot update the project id of robot');
    }
    this.#requireAccess(c, currentLevel, r.projectId, 'update');
    if (level !== currentLevel || b.name !== this.#w.robotName(r))
      throw new HarborError('BAD_REQUEST', 'cannot update the level or name of robot');
    if (duration !== r.duration) {
      r.duration = duration;
      r.expiresAt = duration === -1 ? -1 : Math.floor(addDays(r.created, duration) / 1000);
    }
    r.description = b.description ?? '';
    r.disabled = b.disable === true;
    r.permissions = this.#store(perms);
    r.updated = this.#w.now();
    empty(c.res, 200);
  }

  async #refresh(c: Call, id: number): Promise<void> {
    requireAuthenticated(c.p);
    const r = this.#robot(id);
    this.#requireAccess(c, r.projectId === 0 ? 'system' : 'project', r.projectId, 'update');
    const b = await jsonBody<{ secret?: string }>(c.req, 'robotSec');
    if (b.secret) {
      if (!validSecret(b.secret))
        throw new HarborError(
          'BAD_REQUEST',
          'the secret must be 8-128, inclusively, characters long with at least 1 uppercase letter, 1 lowercase letter and 1 number',
        );
      this.#w.setRobotSecret(r, b.secret);
      sendJson(c.res, 200, {});
      return;
    }
    const secret = newSecret();
    this.#w.setRobotSecret(r, secret);
    sendJson(c.res, 200, { secret });
  }

  #delete(c: Call, id: number): void {
    requireAuthenticated(c.p);
    const r = this.#robot(id);
    this.#requireAccess(c, r.projectId === 0 ? 'system' : 'project', r.projectId, 'delete');
    this.#w.robots.delete(id);
    empty(c.res, 200);
  }
}

/** Harbor's `q` (lib/q): unescaped once more after the URL's own decoding, `k=v` pairs split on commas. */
function parseQuery(raw: string): Map<string, { value: string; fuzzy: boolean }> {
  const out = new Map<string, { value: string; fuzzy: boolean }>();
  if (raw === '') return out;
  const q = queryUnescape(raw) ?? raw;
  for (const param of q.split(',')) {
    const i = param.indexOf('=');
    const k = i < 0 ? '' : param.slice(0, i);
    const v = i < 0 ? '' : param.slice(i + 1);
    if (!k || !v)
      throw new HarborError(
        'BAD_REQUEST',
        'the query string must contain "=" and the key/value cannot be empty',
      );
    if (v.startsWith('~')) {
      if (v.length < 2) throw new HarborError('BAD_REQUEST', `invalid query string value: ${v}`);
      out.set(k, { value: v.slice(1), fuzzy: true });
    } else out.set(k, { value: v, fuzzy: false });
  }
  return out;
}

/** isValidPermissionScope: what a robot creates must be within what the creating robot holds. */
function withinCreatorScope(perms: PermissionIn[], w: World, creator: Robot): boolean {
  const held = new Map<string, Set<string>>();
  for (const p of creator.permissions) {
    const ns = p.scope === '/' || p.scope === '*' ? p.scope : (w.projects.get(p.scope)?.name ?? '');
    held.set(`${p.kind}:${ns}`, new Set(p.access.map((a) => `${a.resource}:${a.action}:${a.effect ?? ''}`)));
  }
  return perms.every((p) => {
    const set = held.get(`${p.kind}:${p.namespace}`) ?? held.get(`${p.kind}:*`);
    return (
      set !== undefined &&
      (p.access as Access[]).every((a) => set.has(`${a.resource}:${a.action}:${a.effect ?? ''}`))
    );
  });
}
