/**
 * Rotate at the source, through the CLI, against the real servers: the rotator mints a Gitea token,
 * writes it to OpenBao (a new KV version with check-and-set, its registry-side reference beside it), rolls
 * it out with the swap, and deletes the old token at Gitea only after the new one's rollout is complete.
 * A rerun with nothing due writes nothing anywhere; a dry run says what it would issue; `status` shows the
 * credential in use; no token value reaches stdout, stderr or Events.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api as gitea, basic, createToken, gitea as g, listTokens, realmToken } from '../helpers/gitea.ts';
import { baoOk, policy } from '../helpers/openbao.ts';
import { runCli, Workspace } from '../helpers/rotator.ts';
import { api, createNamespace, deleteNamespaces, env, pullSecretsOf, suffix } from '../helpers/stack.ts';

const sfx = suffix();
const target = `it-${sfx}`;
const namespaces = [`iss-${sfx}-a`, `iss-${sfx}-b`];
const w = new Workspace();
const path = `issued-${sfx}/gitea`;
const lease = `issuance-${sfx}`;
let storeToken = '';
let manageToken = '';

const ours = async () => (await listTokens(g.puller)).filter((t) => t.name.startsWith(`regcred-${target}-`));
const stored = async () =>
  (await baoOk('GET', `secret/data/${path}`))['data'] as {
    data: Record<string, string>;
    metadata: { version: number };
  };
const run = (...args: string[]) =>
  runCli(['--config', w.config, '--log-format', 'json', ...args], { env: { ISSUANCE_TOKEN: storeToken } });

beforeAll(async () => {
  await policy(
    `issuance-${sfx}`,
    `path "secret/data/issued-${sfx}/*" { capabilities = ["read", "create", "update"] }
path "secret/metadata/issued-${sfx}/*" { capabilities = ["list"] }`,
  );
  const t = await baoOk('POST', 'auth/token/create', { policies: [`issuance-${sfx}`], ttl: '1h' });
  storeToken = (t['auth'] as { client_token: string }).client_token;
  // The issuer's own login: a management token of the pull user (write:user mints, read:package bounds it).
  manageToken = (
    await createToken(g.puller, g.pullerPassword, `manage-${sfx}`, ['write:user', 'read:package'])
  ).sha1;
  await baoOk('POST', `secret/data/issued-${sfx}/manage`, { data: { token: manageToken } });
  for (const ns of namespaces) await createNamespace(ns);
  w.writeConfig({
    stores: {
      bao: {
        type: 'vault',
        address: env('REGCRED_STACK_BAO_ADDR'),
        auth: { method: 'token', tokenEnv: 'ISSUANCE_TOKEN' },
      },
    },
    targets: [
      {
        name: target,
        store: 'bao',
        registry: g.registry,
        credentials: { json: { key: path } },
        namespaces: { names: namespaces },
        issuer: {
          type: 'gitea-token',
          url: g.url,
          user: g.puller,
          login: { username: g.puller, password: { key: `issued-${sfx}/manage#token` } },
        },
      },
    ],
    rotation: { retainSuperseded: '0' },
    lock: { namespace: 'default', name: lease },
  });
});

afterAll(async () => {
  for (const t of await ours())
    await gitea('DELETE', `/users/${g.puller}/tokens/${t.id}`, basic(g.admin, g.adminPassword));
  await deleteNamespaces(namespaces);
});

describe('a target with an issuer (Gitea tokens, OpenBao)', () => {
  const outputs: string[] = [];

  it('first run: mints a token, stores it (with its reference), rolls it out; nothing to revoke', async () => {
    const r = await run('--rotate-now', '--summary');
    outputs.push(r.stdout, r.stderr);
    expect(r.code, r.text).toBe(0);
    const tokens = await ours();
    expect(tokens).toHaveLength(1);
    const s = await stored();
    expect(s.metadata.version).toBe(1);
    expect(s.data['username']).toBe(g.puller);
    expect(s.data['regcred-issuer']).toBe('gitea-token');
    expect(s.data['regcred-credential-id']).toBe(String(tokens[0]?.id));
    // The stored token works at the registry, and every namespace points at it.
    expect((await realmToken(g.puller, s.data['password'] ?? '')).status).toBe(200);
    for (const ns of namespaces)
      expect(await pullSecretsOf(ns)).toEqual([expect.stringMatching(/^regcred-it-/)]);
    expect(r.stdout).toMatch(/^AT THE SOURCE$/m);
    expect(r.stdout).toMatch(
      /^ {2}issued: create a read:package token .* — the store holds no credential for this target yet$/m,
    );
    const issuance = r.summary?.['issuance'] as { issued?: string; revoked?: string[] }[] | undefined;
    expect(issuance?.[0]?.issued).toBeDefined();
  });

  it('a rerun with nothing due writes nothing: no token, no store version, no cluster write', async () => {
    const before = (await stored()).metadata.version;
    const r = await run('--rotate-now');
    outputs.push(r.stdout, r.stderr);
    expect(r.code, r.text).toBe(0);
    expect((await stored()).metadata.version).toBe(before);
    expect(await ours()).toHaveLength(1);
    expect(r.summary?.['writes']).toBe(0);
  });

  it('a dry run says what it would issue and why, and writes nothing', async () => {
    const before = await ours();
    const r = await run('--rotate-now', '--dry-run', '--reissue', '--summary');
    outputs.push(r.stdout, r.stderr);
    expect(r.code, r.text).toBe(0);
    expect(r.stdout).toMatch(
      /^ {2}would issue: create a read:package token .* — a new credential was asked for \(--reissue\)$/m,
    );
    expect((await ours()).map((t) => t.id)).toEqual(before.map((t) => t.id));
  });

  it('--reissue: a new token rolled out, then the old one deleted at Gitea and refused by its registry', async () => {
    const old = (await stored()).data;
    const r = await run('--rotate-now', '--reissue', '--summary');
    outputs.push(r.stdout, r.stderr);
    expect(r.code, r.text).toBe(0);
    const now = (await stored()).data;
    expect(now['regcred-credential-id']).not.toBe(old['regcred-credential-id']);
    expect((await ours()).map((t) => String(t.id))).toEqual([now['regcred-credential-id']]);
    expect((await realmToken(g.puller, old['password'] ?? '')).status).toBe(401);
    expect((await realmToken(g.puller, now['password'] ?? '')).status).toBe(200);
    const logs = r.logs.map((l) => l['msg']);
    // Order: issued before the rollout, revoked after it.
    expect(logs.indexOf('credential issued and stored')).toBeLessThan(logs.indexOf('rollout complete'));
    expect(logs.indexOf('rollout complete')).toBeLessThan(logs.indexOf('credential revoked'));
    expect(r.stdout).toMatch(/^ {2}issued: create a read:package token/m);
    expect(r.stdout).toMatch(/^ {2}revoked: token regcred-it-\S+ of \S+ — superseded by token regcred-it-/m);
  });

  it('Events on the Lease say what was issued and revoked', async () => {
    const ev = await api().listNamespacedEvent({
      namespace: 'default',
      fieldSelector: `involvedObject.name=${lease}`,
    });
    const reasons = ev.items.map((e) => e.reason);
    expect(reasons).toContain('CredentialIssued');
    expect(reasons).toContain('CredentialRevoked');
    for (const e of ev.items) outputs.push(e.message ?? '');
  });

  it('status shows the token in use and how old it is', async () => {
    const r = await run('status');
    outputs.push(r.stdout, r.stderr);
    expect(r.code, r.text).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(
        `^${target} \\(gitea-token\\): in use token regcred-${target}-\\S+ of ${g.puller}, issued 0d ago\\n {2}nothing due$`,
        'm',
      ),
    );
  });

  it('no token value or password in anything the rotator printed', async () => {
    const s = (await stored()).data;
    const secrets = [s['password'], manageToken, storeToken].filter((x): x is string => !!x);
    for (const o of outputs) for (const secret of secrets) expect(o).not.toContain(secret);
  });
});
