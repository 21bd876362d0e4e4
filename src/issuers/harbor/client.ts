import { registerSecret, Sensitive } from '../../base/sensitive.ts';
import { RotatorError, type ErrorCode } from '../../errors.ts';
import { jsonBody, NetworkError, type ConnectionPool, type HttpResponse } from '../../net/http.ts';
import { requestWithRetry } from '../../net/retry.ts';

/** A robot as Harbor's API lists it (the fields the issuer reads; Harbor never returns its secret). */
export interface HarborRobot {
  id: number;
  name: string;
  description?: string;
  level: string;
  duration: number;
  disable: boolean;
  /** Epoch seconds; -1 never. */
  expires_at: number;
  creation_time: string;
  update_time: string;
  permissions: { kind: string; namespace: string; access: { resource: string; action: string }[] }[];
}

export interface HarborUser {
  user_id: number;
  username: string;
  sysadmin_flag: boolean;
}

export interface HarborProject {
  project_id: number;
  name: string;
  current_user_role_ids?: number[] | null;
}

export interface HarborClientOptions {
  url: string;
  username: string;
  password: Sensitive;
  pool: ConnectionPool;
  timeoutMs: number;
}

/** Who the managing identity is, by Harbor's own answer to `GET /users/current`. */
export type Identity =
  | { kind: 'user'; user: HarborUser }
  /** Harbor answers 412 for a robot's security context, whatever its name looks like. */
  | { kind: 'robot'; why: string }
  | { kind: 'unknown' };

/** What a request was about, for the error message: the object and the permission it needs. */
export interface About {
  /** e.g. `project team-a`, `robot robot$team-a+ci-a`. */
  object: string;
  /** The Harbor permission the call needs, named in a 403's message (e.g. `robot:update`). */
  permission?: string | undefined;
}

/** Harbor's error envelope `{"errors":[{"code","message"}]}`, as one short line. */
export function harborReason(res: HttpResponse): string {
  const body = jsonBody(res) as { errors?: { code?: unknown; message?: unknown }[] } | undefined;
  const first = Array.isArray(body?.errors) ? body.errors[0] : undefined;
  const msg = typeof first?.message === 'string' ? first.message : '';
  return msg.slice(0, 300);
}

/**
 * A small typed client for the Harbor API routes the robot issuer uses, as one Harbor user (HTTP Basic).
 * Retries 429/5xx (honouring Retry-After) and connection failures a few times; maps every other answer
 * to a `RotatorError` naming the Harbor URL, the object, the user and, for a refusal, the permission.
 * Harbor makes every failed login wait 1.5 s and locks the name meanwhile, so a 401 is never retried.
 */
export class HarborClient {
  readonly #o: HarborClientOptions;
  readonly #base: string;
  #identity: Promise<Identity> | undefined;

  constructor(options: HarborClientOptions) {
    this.#o = options;
    this.#base = options.url.replace(/\/+$/, '');
  }

  get url(): string {
    return this.#base;
  }

  get username(): string {
    return this.#o.username;
  }

  fail(code: ErrorCode, what: string, cause?: unknown): RotatorError {
    return new RotatorError(code, `harbor ${this.#base}: ${what}`, {
      cause,
      retryable: code === 'ISSUER_UNREACHABLE' || code === 'ISSUER_UNAVAILABLE',
      details: { registry: this.#base, identity: this.#o.username },
    });
  }

  /**
   * Maps an HTTP answer the caller did not expect to an error; never includes a body that could hold a
   * secret. A 403 names who was refused as Harbor sees it: a robot's name need not look like one
   * (`robot_name_prefix` is configurable), so on a 403 Harbor is asked who we are.
   */
  async refusal(res: HttpResponse, about: About): Promise<RotatorError> {
    const why = harborReason(res);
    const tail = `(HTTP ${res.status}${why ? `: ${why}` : ''})`;
    switch (res.status) {
      case 401:
        return this.fail(
          'ISSUER_AUTH',
          `user "${this.#o.username}" was refused: wrong password, or the user does not exist ${tail}`,
        );
      case 403: {
        const identity = await this.identity().catch((): Identity => ({ kind: 'unknown' }));
        if (identity.kind === 'robot' && about.permission?.startsWith('robot:'))
          return this.robotRefused(about, tail);
        const who = `${identity.kind === 'robot' ? 'robot account' : 'user'} "${this.#o.username}"`;
        const hint =
          identity.kind === 'robot'
            ? ' (this is a robot account: manage robots as a Harbor user)'
            : ' (a project admin of the project has it)';
        return this.fail(
          'ISSUER_PERMISSION',
          `${who} may not act on ${about.object}${about.permission ? `: it needs ${about.permission}${hint}` : ''} ${tail}`,
        );
      }
      case 404:
        return this.fail(
          'ISSUER_NOT_FOUND',
          `${about.object} does not exist or is not visible to user "${this.#o.username}" ${tail}`,
        );
      case 400:
      case 422:
        // Only the configuration can make these (a permission Harbor does not grant robots, say).
        return this.fail('CONFIG_INVALID', `${about.object}: Harbor refused the request as invalid ${tail}`);
      default:
        return this.fail('ISSUER_UNAVAILABLE', `${about.object}: unexpected answer ${tail}`);
    }
  }

  /**
   * The managing identity is a robot: whatever it may create, it can never refresh, enable or disable a
   * robot, because Harbor never grants a robot robot:update.
   */
  robotRefused(about: About, tail: string): RotatorError {
    const permission = about.permission ?? 'robot:update';
    const needs = permission === 'robot:update' ? permission : `${permission} and then robot:update`;
    return this.fail(
      'ISSUER_PERMISSION',
      `robot account "${this.#o.username}" may not manage ${about.object}: it needs ${needs}, which Harbor never grants a robot (a robot may at most create, list, read and delete robots); configure a Harbor user who is project admin of the project ${tail}`,
    );
  }

  /** Who the login is, asked once: 200 a user, 412 a robot (Harbor has no current user for robots). */
  identity(): Promise<Identity> {
    this.#identity ??= (async (): Promise<Identity> => {
      const res = await this.call('GET', '/users/current');
      if (res.status === 200) return { kind: 'user', user: jsonBody(res) as HarborUser };
      if (res.status === 412) {
        const why = harborReason(res);
        return { kind: 'robot', why: `GET /users/current: HTTP 412${why ? `: ${why}` : ''}` };
      }
      // Not through refusal(): its 403 branch asks for the identity, which is what is being answered here.
      if (res.status === 401) throw await this.refusal(res, { object: 'the current user' });
      throw this.fail('ISSUER_UNAVAILABLE', `the current user: unexpected answer (HTTP ${res.status})`);
    })();
    // A failed lookup is not remembered: the next caller asks again.
    this.#identity.catch(() => (this.#identity = undefined));
    return this.#identity;
  }

  /** One API call under the retry policy; returns any final answer, 2xx or not. */
  async call(
    method: string,
    path: string,
    body?: unknown,
    extra: Record<string, string> = {},
  ): Promise<HttpResponse> {
    const basic = Buffer.from(`${this.#o.username}:${this.#o.password.reveal()}`).toString('base64');
    registerSecret(basic);
    const headers: Record<string, string> = {
      ...extra,
      authorization: `Basic ${basic}`,
    };
    let res: HttpResponse;
    try {
      res = await requestWithRetry(
        `${this.#base}/api/v2.0${path}`,
        { method, headers, json: body, timeoutMs: this.#o.timeoutMs, pool: this.#o.pool },
        { attempts: 4, baseMs: 250, maxMs: 4000 },
      );
    } catch (e) {
      if (e instanceof NetworkError) throw this.fail('ISSUER_UNREACHABLE', e.message, e);
      throw e;
    }
    if (res.status === 429 || res.status >= 500) {
      const why = harborReason(res);
      throw this.fail(
        'ISSUER_UNAVAILABLE',
        `${method} ${path} answered HTTP ${res.status}${why ? `: ${why}` : ''} after retries`,
      );
    }
    return res;
  }

  async currentUser(about: About): Promise<HarborUser> {
    const id = await this.identity();
    if (id.kind === 'robot') throw this.robotRefused(about, `(${id.why})`);
    if (id.kind !== 'user') throw this.fail('ISSUER_UNAVAILABLE', 'the current user: unexpected answer');
    return id.user;
  }

  async project(name: string): Promise<HarborProject> {
    // A project name of digits would otherwise be read as an id.
    const res = await this.call('GET', `/projects/${encodeURIComponent(name)}`, undefined, {
      'x-is-resource-name': 'true',
    });
    if (res.status !== 200)
      throw await this.refusal(res, { object: `project ${name}`, permission: 'project read' });
    return jsonBody(res) as HarborProject;
  }

  /** Project robots whose stored name contains `fuzzy` (Harbor's `name=~…`); filter exact names yourself. */
  async listRobots(projectId: number, fuzzy: string, project: string): Promise<HarborRobot[]> {
    // `q` is unescaped twice by Harbor: a literal `+` must arrive as %2B after the first decoding.
    const q = encodeURIComponent(`Level=project,ProjectID=${projectId},name=~${fuzzy.replace(/\+/g, '%2B')}`);
    const res = await this.call('GET', `/robots?q=${q}&page_size=100`);
    if (res.status !== 200)
      throw await this.refusal(res, { object: `the robots of project ${project}`, permission: 'robot:list' });
    return jsonBody(res) as HarborRobot[];
  }

  async robot(id: number, name: string): Promise<HarborRobot | undefined> {
    const res = await this.call('GET', `/robots/${id}`);
    if (res.status === 404) return undefined;
    if (res.status !== 200)
      throw await this.refusal(res, { object: `robot ${name}`, permission: 'robot:read' });
    return jsonBody(res) as HarborRobot;
  }

  /** POST /robots: Harbor generates the secret (a requested one is ignored) and shows it once. */
  async createRobot(
    body: unknown,
    name: string,
  ): Promise<
    | { robot: { id: number; name: string; creation_time: string; expires_at: number }; secret: Sensitive }
    | 'exists'
  > {
    const res = await this.call('POST', '/robots', body);
    if (res.status === 409) return 'exists';
    if (res.status !== 201)
      throw await this.refusal(res, { object: `robot ${name}`, permission: 'robot:create' });
    const r = jsonBody(res) as {
      id: number;
      name: string;
      secret?: string;
      creation_time: string;
      expires_at: number;
    };
    if (!r.secret)
      throw this.fail('ISSUER_UNAVAILABLE', `robot ${name}: the create answer carried no secret`);
    registerSecret(r.secret);
    const secret = new Sensitive(r.secret);
    return {
      robot: { id: r.id, name: r.name, creation_time: r.creation_time, expires_at: r.expires_at },
      secret,
    };
  }

  /** PUT /robots/{id}: the full object (name and level unchanged) — enable/disable, duration, permissions. */
  async updateRobot(id: number, body: HarborRobot, name: string): Promise<void> {
    const res = await this.call('PUT', `/robots/${id}`, body);
    if (res.status !== 200)
      throw await this.refusal(res, { object: `robot ${name}`, permission: 'robot:update' });
  }

  /** PATCH /robots/{id} `{}`: a new server-generated secret; the old one stops working at once. */
  async refreshSecret(id: number, name: string): Promise<Sensitive> {
    const res = await this.call('PATCH', `/robots/${id}`, {});
    if (res.status !== 200)
      throw await this.refusal(res, { object: `robot ${name}`, permission: 'robot:update' });
    const s = (jsonBody(res) as { secret?: unknown } | undefined)?.secret;
    if (typeof s !== 'string' || s === '')
      throw this.fail('ISSUER_UNAVAILABLE', `robot ${name}: the refresh answer carried no secret`);
    registerSecret(s);
    return new Sensitive(s);
  }
}
