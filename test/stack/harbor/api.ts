/**
 * `/api/v2.0`: the routes a robot issuer and the tests use — users (current, create), projects (create,
 * get, list, head, members) — with Harbor's auth outcomes (RequireAuthenticated → 401, RequireProjectAccess
 * → 401 anonymous / 403 authenticated, sysadmins pass everything) and go-swagger's JSON shapes. Robots
 * are in robots.ts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Authenticator } from './auth.ts';
import {
  API,
  getProject,
  page,
  projectRef,
  requireAuthenticated,
  requireProjectAccess,
  type Call,
} from './call.ts';
import { isAuthenticated, validSecret, type Principal, type Project, type World } from './model.ts';
import { Robots } from './robots.ts';
import { HarborError, empty, iso, jsonBody, sendJson, sorted } from './wire.ts';

const PROJECT_NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

export class Api {
  readonly #w: World;
  readonly #auth: Authenticator;
  readonly #robots: Robots;
  /** project id → repositories pushed through the double (for repo_count). */
  readonly repos = new Map<number, Set<string>>();

  constructor(world: World, auth: Authenticator) {
    this.#w = world;
    this.#auth = auth;
    this.#robots = new Robots(world);
  }

  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname.slice(API.length).replace(/\/+$/, '') || '/';
    const c: Call = { req, res, url, path, p: await this.#auth.basic(req) };
    const m = req.method ?? 'GET';
    const seg = path.split('/').filter(Boolean);
    if (seg[0] === 'robots') return this.#robots.handle(c, m, seg);
    if (path === '/users/current' && m === 'GET') return this.#currentUser(c);
    if (path === '/users' && m === 'POST') return this.#createUser(c);
    if (path === '/projects' && m === 'GET') return this.#listProjects(c);
    if (path === '/projects' && m === 'POST') return this.#createProject(c);
    if (path === '/projects' && m === 'HEAD') {
      requireAuthenticated(c.p);
      getProject(this.#w, url.searchParams.get('project_name') ?? '');
      empty(res, 200);
      return;
    }
    if (seg[0] === 'projects' && seg.length === 2 && m === 'GET') {
      const ref = projectRef(c, seg[1]!);
      requireProjectAccess(this.#w, c.p, this.#w.project(ref), '', 'read');
      sendJson(res, 200, this.#projectJson(c.p, getProject(this.#w, ref)));
      return;
    }
    if (seg[0] === 'projects' && seg.length === 3 && seg[2] === 'members')
      return this.#members(c, m, projectRef(c, seg[1]!));
    throw new HarborError('NOT_FOUND', `path ${url.pathname} was not found`);
  }

  #currentUser(c: Call): void {
    requireAuthenticated(c.p);
    if (c.p.kind !== 'user') {
      const name = c.p.kind === 'robot' ? 'robot' : 'v2token';
      throw new HarborError('PRECONDITION', `get current user not available for security context: ${name}`);
    }
    const u = c.p.user;
    sendJson(
      c.res,
      200,
      sorted({
        admin_role_in_auth: false,
        comment: u.comment || undefined,
        creation_time: iso(u.created),
        email: u.email || undefined,
        realname: u.realname || undefined,
        sysadmin_flag: u.sysadmin,
        update_time: iso(u.updated),
        user_id: u.id,
        username: u.username,
      }),
    );
  }

  async #createUser(c: Call): Promise<void> {
    if (!isAuthenticated(c.p)) throw new HarborError('UNAUTHORIZED', 'unauthorized');
    if (!this.#w.canSystem(c.p, 'user', 'create')) throw new HarborError('FORBIDDEN', 'forbidden');
    const b = await jsonBody<{
      username?: string;
      email?: string;
      realname?: string;
      comment?: string;
      password?: string;
    }>(c.req, 'userReq');
    if (!validSecret(b.password ?? ''))
      throw new HarborError(
        'BAD_REQUEST',
        'the password or secret must be 8-128, inclusively, characters long with at least 1 uppercase letter, 1 lowercase letter and 1 number',
      );
    if (!b.username) throw new HarborError('BAD_REQUEST', 'username with illegal length');
    if (this.#w.userByName(b.username))
      throw new HarborError('CONFLICT', `user ${b.username} or email ${b.email ?? ''} already exists`);
    const u = this.#w.createUser(
      { username: b.username, email: b.email ?? '', realname: b.realname ?? '', comment: b.comment ?? '' },
      b.password!,
    );
    empty(c.res, 201, { location: `${API}/users/${u.id}` });
  }

  #projectJson(p: Principal, project: Project): Record<string, unknown> {
    const role = p.kind === 'user' ? project.members.get(p.user.id) : undefined;
    const owner = this.#w.users.get(project.ownerId);
    return sorted({
      creation_time: iso(project.created),
      current_user_role_id: role ?? 0,
      current_user_role_ids: role === undefined ? undefined : [role],
      cve_allowlist: sorted({
        creation_time: iso(project.created),
        id: project.id,
        items: [],
        project_id: project.id,
        update_time: iso(project.created),
      }),
      metadata: { public: String(project.public) },
      name: project.name,
      owner_id: project.ownerId,
      owner_name: owner?.username,
      project_id: project.id,
      repo_count: this.repos.get(project.id)?.size ?? 0,
      update_time: iso(project.updated),
    });
  }

  #listProjects(c: Call): void {
    const q = c.url.searchParams;
    const name = q.get('name') ?? '';
    const pub = q.get('public');
    let list = [...this.#w.projects.values()].filter((p) => (name ? p.name.includes(name) : true));
    if (pub !== null) list = list.filter((p) => p.public === (pub === 'true'));
    const me = c.p;
    if (!isAuthenticated(me)) list = pub === 'false' ? [] : list.filter((p) => p.public);
    else if (me.kind === 'user' && !me.user.sysadmin)
      list = list.filter((p) => p.members.has(me.user.id) || (pub !== 'false' && p.public));
    else if (me.kind === 'robot') {
      const all = me.robot.permissions.some((x) => x.kind === 'project' && x.scope === '*');
      const ids = new Set(me.robot.permissions.map((x) => x.scope));
      if (!all) list = list.filter((p) => ids.has(p.id) || (pub !== 'false' && p.public));
    }
    list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const { items, headers } = page(c, list);
    sendJson(
      c.res,
      200,
      items.map((p) => this.#projectJson(me, p)),
      headers,
    );
  }

  async #createProject(c: Call): Promise<void> {
    requireAuthenticated(c.p);
    if (c.p.kind === 'robot' && c.p.robot.projectId !== 0)
      throw new HarborError('FORBIDDEN', 'Only system level robot can create project');
    const b = await jsonBody<{ project_name?: string; public?: boolean; metadata?: { public?: string } }>(
      c.req,
      'project',
    );
    let isPublic = b.metadata?.public ?? '';
    if (b.public !== undefined && isPublic === '') isPublic = String(b.public);
    if (isPublic === '') isPublic = 'false';
    if (isPublic !== 'true' && isPublic !== 'false')
      throw new HarborError(
        'BAD_REQUEST',
        `metadata.public should only be 'true' or 'false', but got: '${isPublic}'`,
      );
    const name = b.project_name ?? '';
    if (name.length < 1 || name.length > 255)
      throw new HarborError(
        'BAD_REQUEST',
        `Project name ${name} is illegal in length. (greater than 255 or less than 1)`,
      );
    if (!PROJECT_NAME.test(name))
      throw new HarborError(
        'BAD_REQUEST',
        'project name is not in lower case or contains illegal characters',
      );
    if (this.#w.project(name)) throw new HarborError('CONFLICT', `The project named ${name} already exists`);
    // A robot's project belongs to the first system admin, as in Harbor.
    const owner = c.p.kind === 'user' ? c.p.user.id : 1;
    const p = this.#w.createProject(name, isPublic === 'true', owner);
    const byName = c.req.headers['x-resource-name-in-location'] === 'true';
    empty(c.res, 201, { location: `${API}/projects/${byName ? name : p.id}` });
  }

  async #members(c: Call, m: string, ref: string | number): Promise<void> {
    const project = this.#w.project(ref);
    if (m === 'GET') {
      requireProjectAccess(this.#w, c.p, project, 'member', 'list');
      const p = getProject(this.#w, ref);
      const rows = [...p.members.entries()].map(([uid, role], i) =>
        sorted({
          entity_id: uid,
          entity_name: this.#w.users.get(uid)?.username,
          entity_type: 'u',
          id: i + 1,
          project_id: p.id,
          role_id: role,
          role_name: ROLE_NAMES[role],
        }),
      );
      sendJson(c.res, 200, rows, { 'x-total-count': String(rows.length) });
      return;
    }
    if (m !== 'POST')
      throw new HarborError('METHOD_NOT_ALLOWED', `method ${m} is not allowed, but [GET,POST] are`);
    requireProjectAccess(this.#w, c.p, project, 'member', 'create');
    const p = getProject(this.#w, ref);
    const b = await jsonBody<{ role_id?: number; member_user?: { username?: string; user_id?: number } }>(
      c.req,
      'projectMember',
    );
    const u =
      b.member_user?.user_id !== undefined
        ? this.#w.users.get(b.member_user.user_id)
        : this.#w.userByName(b.member_user?.username ?? '');
    if (!u) throw new HarborError('NOT_FOUND', 'user not found');
    if (!b.role_id || !ROLE_NAMES[b.role_id])
      throw new HarborError('BAD_REQUEST', `invalid role id ${b.role_id ?? 0}`);
    if (p.members.has(u.id))
      throw new HarborError('CONFLICT', `The user with id ${u.id} is already a member of the project`);
    p.members.set(u.id, b.role_id);
    empty(c.res, 201, { location: `${API}/projects/${p.id}/members/${u.id}` });
  }
}

const ROLE_NAMES: Record<number, string> = {
  1: 'projectAdmin',
  2: 'developer',
  3: 'guest',
  4: 'maintainer',
  5: 'limitedGuest',
};
