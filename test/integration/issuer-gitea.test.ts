/**
 * The gitea-token issuer against the stack's real Gitea: what it mints works at the registry (checked with
 * the rotator's own registry login), it lists and revokes only its own tokens, and each refusal is a
 * RotatorError with a stable code that names the server, the user and the login — never a secret.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkCredential } from '../../src/credentials/dockerconfig.ts';
import { verifyRegistry } from '../../src/credentials/verify.ts';
import { RotatorError } from '../../src/errors.ts';
import { GiteaTokenIssuer } from '../../src/issuers/gitea/index.ts';
import { parseTokenName } from '../../src/issuers/gitea/names.ts';
import { readSecretRef } from '../../src/issuers/context.ts';
import { giteaTokenIssuerSchema } from '../../src/issuers/gitea/schema.ts';
import { fileStoreProvider } from '../../src/providers/file/index.ts';
import { createToken, deleteToken, gitea, listTokens, realmToken } from '../helpers/gitea.ts';
import { freePort, stack, suffix } from '../helpers/stack.ts';
import { FaultProxy } from '../reliability/fault-proxy.ts';

const target = `t${suffix()}`;
const dir = mkdtempSync(join(tmpdir(), 'regcred-gitea-'));
/** Every secret this file sees: none may appear in a log line or an error message. */
const secrets: string[] = [];
/** Raw log lines, before the logger's scrubbing would hide a slip. */
const lines: string[] = [];
const logger = pino(
  { level: 'debug' },
  new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) }),
);
const messages: string[] = [];
const foreign: number[] = [];
const issuers: GiteaTokenIssuer[] = [];

/** An issuer whose login password is the file store's key `login` (written here). */
function issuer(over: Record<string, unknown> = {}, password?: string, t = target): GiteaTokenIssuer {
  const storeDir = mkdtempSync(join(dir, 'store-'));
  if (password !== undefined) writeFileSync(join(storeDir, 'login'), `${password}\n`);
  const config = giteaTokenIssuerSchema.parse({
    type: 'gitea-token',
    url: gitea.url,
    user: gitea.puller,
    login: { username: gitea.puller, password: { key: 'login' } },
    requestTimeoutSeconds: 5,
    ...over,
  });
  const store = fileStoreProvider.create('s', { type: 'file', path: storeDir }, { logger, baseDir: dir });
  const i = new GiteaTokenIssuer(config, {
    target: t,
    password: () =>
      readSecretRef(
        config.login.password,
        { baseDir: dir, readStoreKey: async (k) => (await store.get(k)).value },
        'gitea login',
      ),
    logger,
  });
  issuers.push(i);
  return i;
}
const refusal = async (p: Promise<unknown>): Promise<RotatorError> => {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(RotatorError);
  messages.push((e as Error).message);
  return e as RotatorError;
};
const verify = (username: string, password: string) =>
  verifyRegistry(checkCredential(gitea.registry, username, password, undefined, { store: 's', key: 'k' }), {
    insecure: [],
    timeoutMs: 5000,
  });

let manager = '';
let mine: GiteaTokenIssuer;
beforeAll(async () => {
  // The documented least-privilege login: the user itself, a management token (write:user,read:package).
  const m = await createToken(gitea.puller, gitea.pullerPassword, `manager-${target}`, [
    'write:user',
    'read:package',
  ]);
  foreign.push(m.id);
  manager = m.sha1;
  secrets.push(manager, gitea.pullerPassword, gitea.adminPassword);
  mine = issuer({}, manager);
});
afterAll(async () => {
  for (const t of await listTokens(gitea.puller))
    if (t.name.startsWith(`regcred-${target}-`)) await deleteToken(gitea.puller, t.id);
  for (const id of foreign) await deleteToken(gitea.puller, id);
  for (const i of issuers) await i.close();
});

describe('gitea-token issuer: issue, list, revoke', () => {
  it('issues a read:package token that the rotator’s registry login accepts', async () => {
    const before = Date.now();
    const c = await mine.issue(undefined);
    secrets.push(c.password.reveal());
    expect(c.username).toBe(gitea.puller);
    expect(String(c.password)).toBe('[redacted]');
    expect(c.ref.label).toMatch(
      new RegExp(`^token regcred-${target}-\\d{8}T\\d{6}Z-[a-z0-9]{4} of ${gitea.puller}$`),
    );
    expect(c.ref.issuedAt.getTime()).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(await verify(c.username, c.password.reveal())).toMatchObject({
      outcome: 'accepted',
      flow: 'bearer',
    });
    const atGitea = (await listTokens(gitea.puller)).find((t) => String(t.id) === c.ref.id);
    expect(atGitea?.scopes).toEqual(['read:package']);
    // The lifecycle compares the stored issuedAt with list()'s: they must agree (Gitea's created_at).
    const listed = (await mine.list()).find((x) => x.id === c.ref.id);
    expect(Math.abs((listed?.issuedAt.getTime() ?? 0) - c.ref.issuedAt.getTime())).toBeLessThanOrEqual(1000);
  });

  it('lists only its own tokens: not foreign ones, not a hand-made one with its prefix, not another target’s', async () => {
    const ours = await mine.issue(undefined);
    secrets.push(ours.password.reveal());
    const made: Record<string, number> = {};
    for (const name of [
      `other-${suffix()}`,
      `regcred-${target}-manual`,
      `regcred-${target}x-20260101T000000Z-abcd`,
    ]) {
      const t = await createToken(gitea.puller, gitea.pullerPassword, name);
      foreign.push(t.id);
      secrets.push(t.sha1);
      made[name] = t.id;
    }
    const listed = await mine.list();
    expect(listed.map((c) => c.id)).toContain(ours.ref.id);
    for (const c of listed) {
      expect(c.label).toMatch(new RegExp(`^token regcred-${target}-\\d{8}T\\d{6}Z-[a-z0-9]{4} of `));
      expect(foreign).not.toContain(Number(c.id));
      expect(c.state).toBe('active');
      expect(Math.abs(c.issuedAt.getTime() - Date.now())).toBeLessThan(120_000);
    }
    // Target `<target>x` sees only its own one, never ours: a target name that extends another claims nothing.
    const other = await issuer({}, manager, `${target}x`).list();
    expect(other.map((c) => c.id)).toEqual([String(made[`regcred-${target}x-20260101T000000Z-abcd`])]);
  });

  it('lists past a page of Gitea’s answer (50 tokens)', async () => {
    const own = issuer({}, manager, `${target}p`);
    const minted = new Set<string>();
    for (let i = 0; i < 53; i++) minted.add((await own.issue(undefined)).ref.id);
    const listed = await own.list();
    expect(listed.length).toBe(53);
    expect(new Set(listed.map((c) => c.id))).toEqual(minted);
    for (const c of listed) await own.revoke(c);
    expect(await own.list()).toEqual([]);
  });

  it('revokes: the token is refused at the realm, the other keeps working; revoking again is fine', async () => {
    const old = await mine.issue(undefined);
    const next = await mine.issue(old.ref);
    secrets.push(old.password.reveal(), next.password.reveal());
    await mine.revoke(old.ref);
    expect((await realmToken(gitea.puller, old.password.reveal())).status).toBe(401);
    expect(await verify(gitea.puller, old.password.reveal())).toMatchObject({ outcome: 'rejected' });
    expect(await verify(gitea.puller, next.password.reveal())).toMatchObject({ outcome: 'accepted' });
    expect((await mine.list()).map((c) => c.id)).not.toContain(old.ref.id);
    await mine.revoke(old.ref);
    await mine.revoke(old.ref);
  });

  it('never deletes a token it did not mint, even when asked by id', async () => {
    const t = await createToken(gitea.puller, gitea.pullerPassword, `regcred-${target}-hand-made`);
    foreign.push(t.id);
    secrets.push(t.sha1);
    const e = await refusal(mine.revoke({ id: String(t.id), label: 'x', issuedAt: new Date() }));
    expect(e.code).toBe('OWNERSHIP');
    expect((await listTokens(gitea.puller)).map((x) => x.id)).toContain(t.id);
    expect((await realmToken(gitea.puller, t.sha1)).status).toBe(200);
  });

  it('check() proves the login and names it (not an admin)', async () => {
    const line = await mine.check();
    expect(line).toContain(`signed in as "${gitea.puller}"`);
    expect(line).not.toContain('site admin');
    expect(line).toContain(gitea.url);
  });

  it('check() says so when the login is a site admin (more privilege than needed)', async () => {
    const admin = issuer(
      { login: { username: gitea.admin, password: { key: 'login' } } },
      gitea.adminPassword,
    );
    expect(await admin.check()).toContain(
      `signed in as site admin "${gitea.admin}" (more privilege than needed)`,
    );
  });

  it('reads the login from a mounted file as well', async () => {
    const file = join(dir, 'manager-token');
    writeFileSync(file, `${manager}\n`);
    const i = issuer({ login: { username: gitea.puller, password: { file } } });
    expect(await i.check()).toContain(`signed in as "${gitea.puller}"`);
  });
});

describe('gitea-token issuer: refusals', () => {
  it('a wrong password: ISSUER_AUTH naming the URL, the user and the login', async () => {
    const wrong = `wrong-${suffix()}-${suffix()}`;
    secrets.push(wrong);
    const e = await refusal(issuer({}, wrong).issue(undefined));
    expect(e.code).toBe('ISSUER_AUTH');
    expect(e.message).toContain(gitea.url);
    expect(e.message).toContain(`user "${gitea.puller}"`);
    expect(e.message).toContain(`as "${gitea.puller}"`);
    expect(e.message).toMatch(/401/);
    expect(e.retryable).toBe(false);
  });

  it('an unknown user: ISSUER_NOT_FOUND', async () => {
    const nobody = `nobody-${suffix()}`;
    const e = await refusal(issuer({ user: nobody }, manager).list());
    expect(e.code).toBe('ISSUER_NOT_FOUND');
    expect(e.message).toContain(`no user "${nobody}"`);
  });

  it('another user’s tokens: ISSUER_PERMISSION saying only the user itself or a site admin may', async () => {
    const e = await refusal(issuer({ user: gitea.admin }, manager).issue(undefined));
    expect(e.code).toBe('ISSUER_PERMISSION');
    expect(e.message).toContain(`only "${gitea.admin}" itself or a site admin`);
    expect((await listTokens(gitea.admin)).some((t) => t.name.startsWith(`regcred-${target}-`))).toBe(false);
  });

  it('a login token without write:user: ISSUER_PERMISSION naming the scope, nothing minted', async () => {
    const weak = await createToken(gitea.puller, gitea.pullerPassword, `weak-${target}`);
    foreign.push(weak.id);
    secrets.push(weak.sha1);
    const count = (await listTokens(gitea.puller)).length;
    const e = await refusal(issuer({}, weak.sha1).issue(undefined));
    expect(e.code).toBe('ISSUER_PERMISSION');
    expect(e.message).toContain('write:user');
    expect((await listTokens(gitea.puller)).length).toBe(count);
  });

  it('scopes beyond the login token’s own: ISSUER_PERMISSION', async () => {
    const e = await refusal(issuer({ scopes: ['write:package'] }, manager).issue(undefined));
    expect(e.code).toBe('ISSUER_PERMISSION');
    expect(e.message).toMatch(/within its own scopes/);
  });

  it('an unreachable server: ISSUER_UNREACHABLE, retryable', async () => {
    const e = await refusal(
      issuer({ url: `https://127.0.0.1:${await freePort()}` }, manager).issue(undefined),
    );
    expect(e.code).toBe('ISSUER_UNREACHABLE');
    expect(e.retryable).toBe(true);
    expect(e.message).toMatch(/refused/);
  });

  it('a server the CA does not vouch for: ISSUER_UNREACHABLE, not retryable', async () => {
    const other = join(dir, 'other-ca.pem');
    const { rootCertificates } = await import('node:tls');
    writeFileSync(other, rootCertificates[0] ?? '');
    const e = await refusal(issuer({ caFile: other }, manager).list());
    expect(e.code).toBe('ISSUER_UNREACHABLE');
    expect(e.retryable).toBe(false);
  });
});

describe("gitea-token issuer: faults between it and Gitea (the reliability suite's fault proxy)", () => {
  let proxy: FaultProxy;
  let through: GiteaTokenIssuer;
  beforeAll(async () => {
    proxy = new FaultProxy(gitea.url, join(stack.run, 'pki'), { rate: 0, faults: [] });
    through = issuer({ url: `https://127.0.0.1:${await proxy.listen()}` }, manager);
  });
  afterAll(() => proxy.close());

  it('429 with Retry-After: waits as asked, then mints', async () => {
    proxy.failNext('429');
    const t0 = Date.now();
    const c = await through.issue(undefined);
    secrets.push(c.password.reveal());
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
    expect(proxy.stats['429']).toBe(1);
    // issuedAt is when the create that answered ran, after the wait (not the name's stamp, taken before it),
    // as Gitea's created_at says.
    const stamp = parseTokenName(target, /^token (\S+) of /.exec(c.ref.label)?.[1] ?? '');
    expect(c.ref.issuedAt.getTime() - (stamp?.getTime() ?? Infinity)).toBeGreaterThanOrEqual(1000);
    const listed = (await mine.list()).find((x) => x.id === c.ref.id);
    expect(Math.abs((listed?.issuedAt.getTime() ?? 0) - c.ref.issuedAt.getTime())).toBeLessThanOrEqual(1000);
    expect(await verify(c.username, c.password.reveal())).toMatchObject({ outcome: 'accepted' });
  });

  it('the answer of a create lost after Gitea made the token: that token is deleted, a new one minted', async () => {
    const before = (await mine.list()).length;
    proxy.failNext('drop-after-apply');
    const c = await through.issue(undefined);
    secrets.push(c.password.reveal());
    expect(proxy.stats['drop-after-apply']).toBe(1);
    expect(lines.some((l) => l.includes('gitea token of a lost answer deleted'))).toBe(true);
    // Exactly one more token of ours, and it is the one whose value we hold.
    const after = await mine.list();
    expect(after.length).toBe(before + 1);
    expect(after.map((x) => x.id)).toContain(c.ref.id);
    expect(await verify(c.username, c.password.reveal())).toMatchObject({ outcome: 'accepted' });
  });

  it('503 on every attempt: ISSUER_UNAVAILABLE, retryable, after 3 attempts', async () => {
    proxy.rate = 1;
    proxy.faults = ['503'];
    const n = proxy.stats['503'];
    try {
      const e = await refusal(through.list());
      expect(e.code).toBe('ISSUER_UNAVAILABLE');
      expect(e.retryable).toBe(true);
      expect(e.message).toMatch(/HTTP 503/);
      expect(proxy.stats['503'] - n).toBe(3);
    } finally {
      proxy.rate = 0;
      proxy.faults = [];
    }
  });
});

describe('gitea-token issuer: secrets', () => {
  it('no token value or password in any error message or log line of this file', () => {
    expect(lines.length).toBeGreaterThan(3);
    expect(lines.some((l) => l.includes('gitea token created'))).toBe(true);
    expect(messages.length).toBeGreaterThanOrEqual(7);
    expect(secrets.length).toBeGreaterThan(8);
    for (const s of secrets) {
      for (const text of [...lines, ...messages]) {
        expect(text).not.toContain(s);
        expect(text).not.toContain(Buffer.from(`${gitea.puller}:${s}`).toString('base64'));
      }
    }
  });
});
