/**
 * A small Docker registry token server (the "Bearer" flow of Docker Hub, ACR, GHCR), for the stack's
 * token-auth docker-registry. It implements the distribution token spec: GET /token with HTTP Basic
 * credentials, answered with an RS256 JWT whose x5c chain ends at the CA the registry trusts.
 *
 * Usage: node token-server.ts <host:port> <pki-dir> <users.json> <issuer> <service>
 */
import { createServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { X509Certificate, createPrivateKey, randomUUID, sign, timingSafeEqual } from 'node:crypto';

const [listen = '', pki = '', usersFile = '', issuer = '', service = ''] = process.argv.slice(2);
if (!listen || !pki || !usersFile || !issuer || !service) {
  process.stderr.write('usage: token-server.ts <host:port> <pki-dir> <users.json> <issuer> <service>\n');
  process.exit(2);
}
const key = createPrivateKey(readFileSync(`${pki}/token-signing.key`));
const leaf = new X509Certificate(readFileSync(`${pki}/token-signing.crt`)).raw.toString('base64');

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

function checkBasic(header: string | undefined): string | undefined {
  if (!header?.startsWith('Basic ')) return undefined;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return undefined;
  const user = decoded.slice(0, i);
  // Re-read per request so a test can change who is valid without restarting the server.
  const users = JSON.parse(readFileSync(usersFile, 'utf8')) as Record<string, string>;
  const want = users[user];
  const got = Buffer.from(decoded.slice(i + 1));
  if (want === undefined || want.length !== got.length) return undefined;
  return timingSafeEqual(Buffer.from(want), got) ? user : undefined;
}

function access(scopes: string[]): unknown[] {
  const out = [];
  for (const scope of scopes) {
    const parts = scope.split(':');
    if (parts.length < 3) continue;
    const actions = parts.pop()!.split(',');
    const type = parts.shift()!;
    out.push({ type, name: parts.join(':'), actions });
  }
  return out;
}

function token(subject: string, scopes: string[]): string {
  const now = Math.floor(Date.now() / 1000);
  const header = { typ: 'JWT', alg: 'RS256', x5c: [leaf] };
  const claims = {
    iss: issuer,
    sub: subject,
    aud: service,
    exp: now + 300,
    nbf: now - 10,
    iat: now,
    jti: randomUUID(),
    access: access(scopes),
  };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${b64url(sign('sha256', Buffer.from(input), key))}`;
}

const server = createServer(
  { cert: readFileSync(`${pki}/serving.crt`), key: readFileSync(`${pki}/serving.key`) },
  (req, res) => {
    const url = new URL(req.url ?? '/', 'https://localhost');
    if (url.pathname === '/healthz') {
      res.writeHead(200).end('ok');
      return;
    }
    if (url.pathname !== '/token' || req.method !== 'GET') {
      res.writeHead(404).end();
      return;
    }
    const user = checkBasic(req.headers.authorization);
    if (user === undefined || url.searchParams.get('service') !== service) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
      return;
    }
    const t = token(user, url.searchParams.getAll('scope'));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({ token: t, access_token: t, expires_in: 300, issued_at: new Date().toISOString() }),
    );
  },
);
const colon = listen.lastIndexOf(':');
server.listen(Number(listen.slice(colon + 1)), listen.slice(0, colon));
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => server.close(() => process.exit(0)));
