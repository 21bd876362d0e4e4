/**
 * The stack's Azure: a Key Vault + Entra ID double that behaves on the wire the way Azure does, built from
 * AKV-FACTS.md (Azure's recorded responses, Microsoft's docs, the SDKs' code). One HTTPS listener serves
 * `login.microsoftonline.com` and `<vault>.vault.azure.net` by Host (test processes resolve those names
 * to 127.0.0.1: test/stack/azure/resolve.ts); a plain-HTTP listener serves the managed-identity routes
 * (IMDS through AZURE_POD_IDENTITY_AUTHORITY_HOST, App Service through IDENTITY_ENDPOINT) and the admin
 * API the tests use for knobs (429/503 with Retry-After, latency, a stopped vault, a misrouted token).
 *
 * Usage: node double.ts <config.json> <https-port> <http-port> <cert> <key> <issuer-ca>
 */
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttp, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { Entra, LOGIN_HOST, json, readBody } from './entra.ts';
import { signingKey } from './jwt.ts';
import { World, type DoubleConfig, type Faults } from './model.ts';
import { Vault } from './vault.ts';

const [configFile = '', httpsPort = '', httpPort = '', cert = '', key = '', issuerCa = ''] =
  process.argv.slice(2);
if (!configFile || !httpsPort || !httpPort || !cert || !key) {
  process.stderr.write('usage: double.ts <config.json> <https-port> <http-port> <cert> <key> [issuer-ca]\n');
  process.exit(2);
}
const world = new World(JSON.parse(readFileSync(configFile, 'utf8')) as DoubleConfig);
const signer = signingKey(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey);
const entra = new Entra(world, signer, issuerCa ? readFileSync(issuerCa) : undefined);
const vault = new Vault(world, () => entra.jwks as { keys: { kid?: string }[] });
const VAULT_HOST = /^([a-z0-9-]{3,24})\.vault\.azure\.net$/i;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const hostOf = (req: IncomingMessage): { name: string; withPort: string } => {
  const h = (req.headers.host ?? '').toLowerCase();
  return { name: h.replace(/:\d+$/, ''), withPort: h };
};

/** A vault request under the fault knobs; false when the knobs already answered (or dropped) it. */
async function underFaults(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  const f = world.faults;
  if (f.stopped) {
    req.socket.destroy();
    return false;
  }
  if (f.latencyMs) await sleep(f.latencyMs);
  if (f.status !== undefined && (f.times ?? 0) > 0) {
    f.times = (f.times ?? 1) - 1;
    const throttled = f.status === 429;
    json(
      res,
      f.status,
      {
        error: throttled
          ? {
              code: 'Throttled',
              message:
                'Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached',
            }
          : {
              code: 'ServiceUnavailable',
              message: 'The service is temporarily unavailable. Please retry later.',
            },
      },
      { 'retry-after': String(f.retryAfterSeconds ?? 1) },
    );
    return false;
  }
  return true;
}

const https = createHttps({ cert: readFileSync(cert), key: readFileSync(key) }, (req, res) => {
  const url = new URL(req.url ?? '/', 'https://double.invalid');
  const host = hostOf(req);
  const done = (status: number) =>
    world.record({
      host: host.withPort,
      method: req.method ?? '',
      path: url.pathname,
      apiVersion: url.searchParams.get('api-version'),
      authorized: req.headers.authorization !== undefined,
      status,
    });
  void (async () => {
    try {
      if (host.name === LOGIN_HOST) {
        await entra.handle(req, res, url);
        done(res.statusCode);
        return;
      }
      // A vault is named by its host; `localhost` serves the first vault (the verification-off escape hatch).
      const m = VAULT_HOST.exec(host.name);
      const name = m ? m[1]!.toLowerCase() : host.name === 'localhost' ? world.config.vaults[0] : undefined;
      if (name === undefined || !world.vaults.has(name)) {
        req.socket.destroy(); // no such vault: as unresolvable as a wrong *.vault.azure.net name
        return;
      }
      if (!(await underFaults(req, res))) {
        done(res.statusCode || 0);
        return;
      }
      done(await vault.handle(req, res, url, name, host.withPort));
    } catch (e) {
      process.stderr.write(`azure double: ${(e as Error).stack ?? String(e)}\n`);
      if (!res.headersSent)
        json(res, 500, { error: { code: 'InternalServerError', message: 'double failed' } });
    }
  })();
});

/** Managed-identity routes and the admin API (loopback, plain HTTP, like IMDS). */
const http = createHttp((req, res) => {
  const url = new URL(req.url ?? '/', 'http://double.invalid');
  void (async () => {
    const path = url.pathname.replace(/\/+$/, '');
    if (path === '/metadata/identity/oauth2/token' || path === '/msi/token') {
      entra.managedIdentity(req, res, url);
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200).end('ok');
      return;
    }
    if (path === '/_admin/faults') {
      if (req.method === 'DELETE') world.faults = {};
      else if (req.method === 'POST') world.faults = JSON.parse(await readBody(req)) as Faults;
      json(res, 200, world.faults);
      return;
    }
    if (path === '/_admin/requests') {
      if (req.method === 'DELETE') world.log.splice(0);
      json(res, 200, world.log);
      return;
    }
    if (path === '/_admin/federated' && req.method === 'POST') {
      const b = JSON.parse(await readBody(req)) as {
        clientId: string;
        issuer: string;
        subject: string;
        audience: string;
      };
      const app = world.appByClientId(b.clientId);
      if (!app) return json(res, 404, { error: `no app ${b.clientId}` });
      app.federated.push({ issuer: b.issuer, subject: b.subject, audience: b.audience });
      return json(res, 200, app.federated);
    }
    if (path === '/_admin/roles' && (req.method === 'POST' || req.method === 'DELETE')) {
      const b = JSON.parse(await readBody(req)) as DoubleConfig['roleAssignments'][number];
      const list = world.config.roleAssignments;
      const i = list.findIndex(
        (r) => r.principalId === b.principalId && r.vault === b.vault && r.role === b.role,
      );
      if (req.method === 'POST' && i < 0) list.push(b);
      if (req.method === 'DELETE' && i >= 0) list.splice(i, 1);
      return json(res, 200, list);
    }
    json(res, 400, {
      error: 'invalid_request',
      error_description: `no route ${req.method ?? ''} ${url.pathname}`,
    });
  })().catch((e: unknown) => {
    if (!res.headersSent) json(res, 500, { error: 'server_error', error_description: (e as Error).message });
  });
});

https.listen(Number(httpsPort), '127.0.0.1');
http.listen(Number(httpPort), '127.0.0.1');
for (const sig of ['SIGTERM', 'SIGINT'] as const)
  process.on(sig, () => {
    https.close();
    http.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  });
