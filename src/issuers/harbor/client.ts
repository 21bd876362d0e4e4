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

  /** Maps an HTTP answer the caller did not expect to an error; never includes a body that could hold a secret. */
  refusal(res: HttpResponse, about: About): RotatorError {
    const who = `user "${this.#o.username}"`;
    const why = harborReason(res);
    const tail = `(HTTP ${res.status}${why ? `: ${why}` : ''})`;
    switch (res.status) {
      case 401:
        return this.fail(
          'ISSUER_AUTH',
          `${who} was refused: wrong password, or the user does not exist ${tail}`,
        );
      case 403: {
        const hint = this.#o.username.startsWith('robot$')
          ? ' (this is a robot account, and Harbor never grants a robot robot:update: manage robots as a Harbor user)'
          : ' (a project admin of the project has it)';
        return this.fail(
          'ISSUER_PERMISSION',
          `${who} may not act on ${about.object}${about.permission ? `: it needs ${about.permission}${hint}` : ''} ${tail}`,
        );
      }
      case 404:
        return this.fail(
          'ISSUER_NOT_FOUND',
          `${about.object} does not exist or is not visible to ${who} ${tail}`,
        );
      case 400:
      case 422:
        // Only the configuration can make these (a permission Harbor does not grant robots, say).
        return this.fail('CONFIG_INVALID', `${about.object}: Harbor refused the request as invalid ${tail}`);
      default:
        return this.fail('ISSUER_UNAVAILABLE', `${about.object}: unexpected answer ${tail}`);
    }
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

  async currentUser(): Promise<HarborUser> {
    const res = await this.call('GET', '/users/current');
    if (res.status === 412)
      throw this.fail(
        'ISSUER_PERMISSION',
        `"${this.#o.username}" is a robot account: Harbor never lets a robot refresh or update robots; configure a Harbor user (project admin of the project)`,
      );
    if (res.status !== 200) throw this.refusal(res, { object: 'the current user' });
    return jsonBody(res) as HarborUser;
  }

  async project(name: string): Promise<HarborProject> {
    // A project name of digits would otherwise be read as an id.
    const res = await this.call('GET', `/projects/${encodeURIComponent(name)}`, undefined, {
      'x-is-resource-name': 'true',
    });
    if (res.status !== 200)
      throw this.refusal(res, { object: `project ${name}`, permission: 'project read' });
    return jsonBody(res) as HarborProject;
  }

  /** Project robots whose stored name contains `fuzzy` (Harbor's `name=~…`); filter exact names yourself. */
  async listRobots(projectId: number, fuzzy: string, project: string): Promise<HarborRobot[]> {
    // `q` is unescaped twice by Harbor: a literal `+` must arrive as %2B after the first decoding.
    const q = encodeURIComponent(`Level=project,ProjectID=${projectId},name=~${fuzzy.replace(/\+/g, '%2B')}`);
    const res = await this.call('GET', `/robots?q=${q}&page_size=100`);
    if (res.status !== 200)
      throw this.refusal(res, { object: `the robots of project ${project}`, permission: 'robot:list' });
    return jsonBody(res) as HarborRobot[];
  }

  async robot(id: number, name: string): Promise<HarborRobot | undefined> {
    const res = await this.call('GET', `/robots/${id}`);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw this.refusal(res, { object: `robot ${name}`, permission: 'robot:read' });
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
    if (res.status !== 201) throw this.refusal(res, { object: `robot ${name}`, permission: 'robot:create' });
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
    if (res.status !== 200) throw this.refusal(res, { object: `robot ${name}`, permission: 'robot:update' });
  }

  /** PATCH /robots/{id} `{}`: a new server-generated secret; the old one stops working at once. */
  async refreshSecret(id: number, name: string): Promise<Sensitive> {
    const res = await this.call('PATCH', `/robots/${id}`, {});
    if (res.status !== 200) throw this.refusal(res, { object: `robot ${name}`, permission: 'robot:update' });
    const s = (jsonBody(res) as { secret?: unknown } | undefined)?.secret;
    if (typeof s !== 'string' || s === '')
      throw this.fail('ISSUER_UNAVAILABLE', `robot ${name}: the refresh answer carried no secret`);
    registerSecret(s);
    return new Sensitive(s);
  }
}
