/**
 * The stack's Azure Container Registry: ARM for tokens, scope maps and generateCredentials (arm.ts), the
 * registry's data plane `<name>.azurecr.io` in front of a real distribution registry (registry.ts), and a
 * loopback admin API for the tests' knobs. Built from ACR-FACTS.md; bearer tokens come from the stack's
 * Entra double (test/stack/azure), whose published keys ARM checks them against.
 *
 * Usage: node --import <azure/resolve.ts> acr.ts <config.json>
 */
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttp, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { json, readBody } from '../azure/entra.ts';
import { signingKey } from '../azure/jwt.ts';
import { Arm } from './arm.ts';
import { ArmAuth } from './arm-auth.ts';
import {
  DEFAULT_SETTINGS,
  World,
  type AcrConfig,
  type Faults,
  type RoleAssignment,
  type Settings,
} from './model.ts';
import { RegistryFront } from './registry.ts';

const [configFile = ''] = process.argv.slice(2);
if (!configFile) {
  process.stderr.write('usage: acr.ts <config.json>\n');
  process.exit(2);
}
const config = JSON.parse(readFileSync(configFile, 'utf8')) as AcrConfig;
const world = new World(config);
const arm = new Arm(
  world,
  new ArmAuth(world, config.jwksCa),
  (reg) => `${reg.name.toLowerCase()}.azurecr.io`,
);
const front = new RegistryFront(
  world,
  signingKey(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey),
);
const tls = { cert: readFileSync(config.tls.cert), key: readFileSync(config.tls.key) };

const failed = (res: ServerResponse, e: unknown) => {
  process.stderr.write(`acr double: ${(e as Error).stack ?? String(e)}\n`);
  if (!res.headersSent) json(res, 500, { error: { code: 'InternalServerError', message: 'double failed' } });
  else res.destroy();
};

const armServer = createHttps(
  tls,
  (req, res) => void arm.handle(req, res).catch((e: unknown) => failed(res, e)),
);
const registryServer = createHttps(tls, (req, res) => {
  void front
    .handle(req, res)
    .then((r) =>
      world.record({
        plane: 'registry',
        method: req.method ?? '',
        path: (req.url ?? '').split('?')[0] ?? '',
        operation: r.operation,
        apiVersion: null,
        principal: r.principal,
        clientRequestId: null,
        token: null,
        status: r.status,
      }),
    )
    .catch((e: unknown) => failed(res, e));
});

/** Knobs (settings, faults, each token's replication delay), the request log and role assignments; loopback plain HTTP, like the Azure double's. */
async function admin(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0]!.replace(/\/+$/, '');
  const body = async <T>(): Promise<T> => JSON.parse((await readBody(req)) || '{}') as T;
  if (path === '/healthz') return void res.writeHead(200).end('ok');
  if (path === '/_admin/settings') {
    if (req.method === 'POST') world.settings = { ...world.settings, ...(await body<Partial<Settings>>()) };
    if (req.method === 'DELETE') world.settings = { ...DEFAULT_SETTINGS };
    return json(res, 200, world.settings);
  }
  if (path === '/_admin/replication') {
    // One token's delay, on the token itself: resetting the settings (as other tests do) leaves it, and
    // deleting the token takes it away.
    if (req.method === 'POST') {
      const b = await body<{ registry?: string; token?: string; delayMs?: number }>();
      const reg = b.registry ?? (world.registries.size === 1 ? [...world.registries.keys()][0] : undefined);
      if (typeof b.token !== 'string' || typeof b.delayMs !== 'number' || b.delayMs < 0 || reg === undefined)
        return json(res, 400, { error: 'want {registry (when there are several), token, delayMs >= 0}' });
      const t = world.registries.get(reg.toLowerCase())?.tokens.get(b.token.toLowerCase());
      if (!t) return json(res, 404, { error: `no token ${b.token} in registry ${reg}` });
      t.replicationDelayMs = b.delayMs;
    }
    const delays = [...world.registries.values()].flatMap((r) =>
      [...r.tokens.values()]
        .filter((t) => t.replicationDelayMs !== undefined)
        .map((t) => ({ registry: r.name, token: t.name, delayMs: t.replicationDelayMs })),
    );
    return json(res, 200, delays);
  }
  if (path === '/_admin/faults') {
    if (req.method === 'POST') world.faults = { ...world.faults, ...(await body<Faults>()) };
    if (req.method === 'DELETE') world.faults = {};
    return json(res, 200, world.faults);
  }
  if (path === '/_admin/requests') {
    if (req.method === 'DELETE') world.log.splice(0);
    return json(res, 200, world.log);
  }
  if (path === '/_admin/roles') {
    const list = world.config.roleAssignments;
    if (req.method === 'POST' || req.method === 'DELETE') {
      const b = await body<RoleAssignment>();
      const i = list.findIndex(
        (r) =>
          r.principalId === b.principalId &&
          r.scope.toLowerCase() === b.scope.toLowerCase() &&
          r.role === b.role,
      );
      if (req.method === 'POST' && i < 0) list.push(b);
      if (req.method === 'DELETE' && i >= 0) list.splice(i, 1);
    }
    return json(res, 200, list);
  }
  json(res, 404, { error: `no route ${req.method ?? ''} ${path}` });
}
const adminServer = createHttp((req, res) => void admin(req, res).catch((e: unknown) => failed(res, e)));

const listen = (server: { listen: (port: number, host: string) => unknown }, address: string) => {
  const i = address.lastIndexOf(':');
  server.listen(Number(address.slice(i + 1)), address.slice(0, i));
};
listen(armServer, config.listen.arm);
listen(registryServer, config.listen.registry);
listen(adminServer, config.listen.admin);
for (const sig of ['SIGTERM', 'SIGINT'] as const)
  process.on(sig, () => {
    for (const s of [armServer, registryServer]) s.close();
    adminServer.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  });
