/**
 * Azure Resource Manager for Microsoft.ContainerRegistry tokens and scope maps, over HTTPS, as the SDKs
 * see it (ACR-FACTS 13–28): any api-version (plain or `api%2Dversion`), bearer auth and RBAC (arm-auth.ts),
 * the `{"error":{code,message}}` envelope, long-running answers (201 + Azure-AsyncOperation for token
 * writes; 202 + Location, or + Azure-AsyncOperation, for generateCredentials), 429 with Retry-After and
 * injected failures on demand. Order as in ARM: authenticate, route, throttle, authorize, then look up.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { json, readBody } from '../azure/entra.ts';
import { ArmAuth, isRefusal, type Caller } from './arm-auth.ts';
import { armError, Resources, type GenerateBody, type Reply, type TokenBody } from './arm-resources.ts';
import { armTime, forToken, type Registry, type World } from './model.ts';

const CR = 'Microsoft.ContainerRegistry/registries';

interface Route {
  operation: string;
  action: string;
  /** The resource id RBAC is checked at and messages name. */
  scope: string;
  run: (reg: Registry, body: unknown, caller: Caller) => Reply;
}

/** The token a request's path names (`…/tokens/<name>`), lower case. */
const tokenInPath = (path: string): string | null =>
  /\/tokens\/([^/]+)/i.exec(path)?.[1]?.toLowerCase() ?? null;

/** The token a generateCredentials body names (`tokenId`: the token's resource id), lower case. */
function tokenIdIn(text: string): string | null {
  try {
    const id = (JSON.parse(text) as { tokenId?: unknown } | null)?.tokenId;
    return typeof id === 'string' ? tokenInPath(id) : null;
  } catch {
    return null;
  }
}

const isApiVersion = (v: string) => /^\d{4}-\d{2}-\d{2}(-preview)?$/.test(v);

export class Arm {
  readonly #w: World;
  readonly #auth: ArmAuth;
  readonly #r: Resources;
  readonly #loginServer: (reg: Registry) => string;

  constructor(world: World, auth: ArmAuth, loginServer: (reg: Registry) => string) {
    this.#w = world;
    this.#auth = auth;
    this.#r = new Resources(world);
    this.#loginServer = loginServer;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', `https://${req.headers.host ?? 'arm.invalid'}`);
    const apiVersion = url.searchParams.get('api-version'); // URLSearchParams decodes `api%2Dversion` too
    let operation = 'unknown';
    let principal: string | null = null;
    let token = tokenInPath(url.pathname);
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      this.#send(req, res, status, body, headers);
      this.#w.record({
        plane: 'arm',
        method: req.method ?? '',
        path: url.pathname,
        operation,
        apiVersion,
        principal,
        clientRequestId: (req.headers['x-ms-client-request-id'] as string | undefined) ?? null,
        token,
        status,
      });
    };
    const caller = await this.#auth.authenticate(req);
    if (isRefusal(caller)) return reply(caller.status, caller.body, caller.headers);
    principal = caller.appId;
    if (apiVersion === null)
      return reply(
        400,
        armError(
          400,
          'MissingApiVersionParameter',
          'The api-version query parameter (?api-version=) is required for all requests.',
        ).body,
      );
    if (!isApiVersion(apiVersion))
      return reply(
        400,
        armError(
          400,
          'InvalidApiVersionParameter',
          `The api-version '${apiVersion}' is invalid. The supported versions are '2019-05-01-preview' to '2026-09-01-preview'.`,
        ).body,
      );
    const parsed = this.#route(req.method ?? 'GET', url, apiVersion);
    if ('status' in parsed) return reply(parsed.status, parsed.body);
    const { route, regName } = parsed;
    operation = route.operation;
    // Read before the faults, which may be narrowed to the token a generateCredentials body names; parsed
    // (and refused when invalid) where it always was.
    const text =
      req.method === 'PUT' || req.method === 'PATCH' || req.method === 'POST' ? await readBody(req) : '';
    token ??= tokenIdIn(text);

    const f = this.#w.faults;
    if (
      f.throttle &&
      f.throttle.times > 0 &&
      (!f.throttle.operation || f.throttle.operation === operation) &&
      forToken(f.throttle, token)
    ) {
      f.throttle.times--;
      const kind = req.method === 'GET' ? 'read' : 'write';
      const s = f.throttle.retryAfterSeconds;
      return reply(
        429,
        armError(
          429,
          'SubscriptionRequestsThrottled',
          `Number of '${kind}' requests for subscription '${this.#w.config.subscriptionId}' actor '${caller.objectId}' exceeded. Please try again after '${s}' seconds after the first request.`,
        ).body,
        { 'retry-after': String(s) },
      );
    }
    const denied = this.#auth.authorize(caller, route.action, route.scope);
    if (denied) return reply(denied.status, denied.body);

    const reg = this.#w.registries.get(regName.toLowerCase());
    if (!reg) return reply(404, this.#r.notFound(regName).body);
    let body: unknown = undefined;
    if (req.method === 'PUT' || req.method === 'PATCH' || req.method === 'POST') {
      try {
        body = text === '' ? {} : JSON.parse(text);
      } catch (e) {
        return reply(
          400,
          armError(
            400,
            'InvalidRequestContent',
            `The request content was invalid and could not be deserialized: '${(e as Error).message}'.`,
          ).body,
        );
      }
    }
    const fail =
      f.fail && f.fail.times > 0 && f.fail.operation === operation && forToken(f.fail, token)
        ? f.fail
        : undefined;
    if (fail && !fail.afterApplying) {
      fail.times--;
      return reply(
        fail.status,
        this.#failure(fail.status),
        fail.status === 503 ? { 'retry-after': '1' } : {},
      );
    }
    const out = route.run(reg, body, caller);
    if (fail?.afterApplying) {
      fail.times--;
      return reply(fail.status, this.#failure(fail.status));
    }
    if (!out.lro) return reply(out.status, out.body, out.headers);
    reply(out.status, out.body, this.#startOperation(req, reg, out.lro, apiVersion));
  }

  #failure(status: number): unknown {
    if (status === 503)
      return armError(
        503,
        'ServiceUnavailable',
        'The service is currently unavailable. Please try again later.',
      ).body;
    if (status === 504)
      return armError(
        504,
        'GatewayTimeout',
        'The gateway did not receive a response within the specified time period.',
      ).body;
    const id = randomUUID();
    return armError(
      status,
      'InternalServerError',
      `Encountered internal server error. Diagnostic information: timestamp '${new Date().toISOString()}', subscription id '${this.#w.config.subscriptionId}', tracking id '${id}', request correlation id '${id}'.`,
    ).body;
  }

  /** The headers that start a long-running operation, and its record. */
  #startOperation(
    req: IncomingMessage,
    reg: Registry,
    lro: NonNullable<Reply['lro']>,
    v: string,
  ): Record<string, string> {
    const f = this.#w.faults;
    const failed = f.operationFails && f.operationFails.times > 0 ? f.operationFails : undefined;
    if (failed) failed.times--;
    const id = Resources.newOperationId(lro.kind);
    this.#w.operations.set(id, {
      id,
      remaining: this.#w.settings.polls,
      result: lro.result,
      failed: failed ? { code: failed.code, message: failed.message } : undefined,
      startedAt: armTime(Date.now()),
    });
    const base = `https://${req.headers.host ?? ''}${this.#r.regId(reg)}`;
    const retry = { 'retry-after': String(this.#w.settings.retryAfterSeconds) };
    if (lro.kind === 'token')
      return {
        'azure-asyncoperation': `${base}/tokens/${lro.tokenName ?? ''}/operationStatuses/${id}?api-version=${v}`,
        ...retry,
      };
    const location = `${base}/operationStatuses/${id}?api-version=${v}`;
    if (this.#w.settings.generateCredentials === 'location') return { location, ...retry };
    return { 'azure-asyncoperation': `${location}&monitor=true`, location, ...retry };
  }

  /** An operation's status (Azure-AsyncOperation) or, for the Location view, 202 until done and then the result. */
  #operation(path: string, opId: string, resultView: boolean): Reply {
    const op = this.#w.operations.get(opId);
    if (!op) return armError(404, 'OperationNotFound', `The operation '${opId}' was not found.`);
    if (op.remaining > 0) op.remaining--;
    const done =
      op.remaining === 0 && op.endedAt === undefined ? (op.endedAt = armTime(Date.now())) : op.endedAt;
    const retry = { 'retry-after': String(this.#w.settings.retryAfterSeconds) };
    if (resultView) {
      if (!done) return { status: 202, headers: retry };
      if (op.failed) return armError(400, op.failed.code, op.failed.message);
      return { status: 200, body: op.result };
    }
    const status = !done ? 'InProgress' : op.failed ? 'Failed' : 'Succeeded';
    return {
      status: 200,
      headers: done ? {} : retry,
      body: {
        id: path,
        name: opId,
        status,
        startTime: op.startedAt,
        ...(done ? { endTime: done } : {}),
        ...(status === 'Failed' ? { error: op.failed } : {}),
      },
    };
  }

  #route(method: string, url: URL, v: string): { route: Route; regName: string } | Reply {
    const seg = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const fixed = [
      'subscriptions',
      undefined,
      'resourcegroups',
      undefined,
      'providers',
      'microsoft.containerregistry',
      'registries',
    ];
    const bad = seg.length < 8 || fixed.some((f, i) => f !== undefined && seg[i]?.toLowerCase() !== f);
    if (bad)
      return armError(
        404,
        'InvalidResourceType',
        `The resource type could not be found in the namespace 'Microsoft.ContainerRegistry' for api version '${v}'.`,
      );
    const c = this.#w.config;
    if (seg[1]!.toLowerCase() !== c.subscriptionId.toLowerCase())
      return armError(404, 'SubscriptionNotFound', `The subscription '${seg[1]!}' could not be found.`);
    if (seg[3]!.toLowerCase() !== c.resourceGroup.toLowerCase())
      return armError(404, 'ResourceGroupNotFound', `Resource group '${seg[3]!}' could not be found.`);
    const regName = seg[7]!;
    const rest = seg.slice(8);
    const scope = url.pathname.replace(/\/+$/, '');
    const type = rest[0]?.toLowerCase();
    const r = this.#r;
    // An action (POST) is authorized on its resource, not on the action's own path (ACR-FACTS 26).
    const route = (
      operation: string,
      action: string,
      run: Route['run'],
    ): { route: Route; regName: string } => ({
      route: {
        operation,
        action: `${CR}/${action}`,
        scope: action.endsWith('/action') ? scope.replace(/\/[^/]+$/, '') : scope,
        run,
      },
      regName,
    });
    const tokenOf = (reg: Registry, name: string) => reg.tokens.get(name.toLowerCase());
    if (rest.length === 0 && method === 'GET')
      return route('getRegistry', 'read', (reg) => r.registry(reg, this.#loginServer(reg)));
    if (type === 'tokens' && rest.length === 1 && method === 'GET')
      return route('listTokens', 'tokens/read', (reg) =>
        this.#page(
          url,
          [...reg.tokens.values()].map((t) => r.token(reg, t)),
        ),
      );
    if (type === 'tokens' && rest.length === 2) {
      const name = rest[1]!;
      const missing = (reg: Registry) => r.notFound(`${reg.name}/tokens/${name}`);
      if (method === 'GET')
        return route('getToken', 'tokens/read', (reg) => {
          const t = tokenOf(reg, name);
          return t ? { status: 200, body: r.token(reg, t) } : missing(reg);
        });
      if (method === 'PUT')
        return route('createToken', 'tokens/write', (reg, b, who) =>
          r.putToken(reg, name, b as TokenBody, who.appId),
        );
      if (method === 'PATCH')
        return route('updateToken', 'tokens/write', (reg, b, who) => {
          const t = tokenOf(reg, name);
          return t ? r.patchToken(reg, t, b as TokenBody, who.appId) : missing(reg);
        });
      if (method === 'DELETE')
        return route('deleteToken', 'tokens/delete', (reg) => ({
          status: reg.tokens.delete(name.toLowerCase()) ? 200 : 204,
        }));
    }
    if (
      type === 'tokens' &&
      rest.length === 4 &&
      rest[2]?.toLowerCase() === 'operationstatuses' &&
      method === 'GET'
    )
      return route('tokenOperationStatus', 'tokens/operationStatuses/read', () =>
        this.#operation(scope, rest[3]!, false),
      );
    if (type === 'scopemaps' && rest.length === 1 && method === 'GET')
      return route('listScopeMaps', 'scopeMaps/read', (reg) =>
        this.#page(
          url,
          [...reg.scopeMaps.values()].map((m) => r.scopeMap(reg, m)),
        ),
      );
    if (type === 'scopemaps' && rest.length === 2) {
      const name = rest[1]!;
      if (method === 'GET')
        return route('getScopeMap', 'scopeMaps/read', (reg) => {
          const m = reg.scopeMaps.get(name.toLowerCase());
          return m ? { status: 200, body: r.scopeMap(reg, m) } : r.notFound(`${reg.name}/scopeMaps/${name}`);
        });
      if (method === 'PUT')
        return route('putScopeMap', 'scopeMaps/write', (reg, b) => r.putScopeMap(reg, name, b));
      if (method === 'DELETE')
        return route('deleteScopeMap', 'scopeMaps/delete', (reg) => ({
          status: reg.scopeMaps.delete(name.toLowerCase()) ? 200 : 204,
        }));
    }
    if (type === 'generatecredentials' && rest.length === 1 && method === 'POST')
      return route('generateCredentials', 'generateCredentials/action', (reg, b) =>
        r.generateCredentials(reg, b as GenerateBody),
      );
    if (type === 'operationstatuses' && rest.length === 2 && method === 'GET')
      return route('registryOperationStatus', 'operationStatuses/read', () =>
        this.#operation(scope, rest[1]!, url.searchParams.get('monitor') === null),
      );
    if (
      rest.length > 0 &&
      ['tokens', 'scopemaps', 'generatecredentials', 'operationstatuses'].includes(type ?? '')
    )
      return armError(
        405,
        'MethodNotAllowed',
        `The requested resource does not support http method '${method}'.`,
      );
    return armError(
      404,
      'InvalidResourceType',
      `The resource type '${rest[0] ?? ''}' could not be found in the namespace 'Microsoft.ContainerRegistry' for api version '${v}'.`,
    );
  }

  /** `{value, nextLink?}` pages; nextLink carries an opaque `$skipToken` and is absent on the last page. */
  #page(url: URL, items: unknown[]): Reply {
    const size = this.#w.settings.pageSize;
    const skip = Number(Buffer.from(url.searchParams.get('$skipToken') ?? '', 'base64url').toString() || '0');
    const value = items.slice(skip, skip + size);
    if (skip + size >= items.length) return { status: 200, body: { value } };
    const next = new URL(url.href);
    next.searchParams.set('$skipToken', Buffer.from(String(skip + size)).toString('base64url'));
    return { status: 200, body: { value, nextLink: next.href } };
  }

  #send(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string>,
  ): void {
    const id = randomUUID();
    const common: Record<string, string> = {
      'x-ms-request-id': id,
      'x-ms-correlation-request-id': id,
      'strict-transport-security': 'max-age=31536000; includeSubDomains',
      'x-content-type-options': 'nosniff',
      expires: '-1',
      pragma: 'no-cache',
      [req.method === 'GET'
        ? 'x-ms-ratelimit-remaining-subscription-reads'
        : 'x-ms-ratelimit-remaining-subscription-writes']: req.method === 'GET' ? '249' : '199',
    };
    const cid = req.headers['x-ms-client-request-id'];
    if (typeof cid === 'string') common['x-ms-client-request-id'] = cid;
    if (body === undefined) {
      res.writeHead(status, { ...common, 'content-length': '0', ...headers }).end();
      return;
    }
    json(res, status, body, { ...common, ...headers });
  }
}
