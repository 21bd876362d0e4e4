/**
 * The stack's docker-registry in both auth modes, raw (what a registry does) and through the rotator's
 * verifier (what it concludes): accepted, rejected, unreachable, not a registry.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { checkCredential } from '../../src/credentials/dockerconfig.ts';
import { verifyRegistry } from '../../src/credentials/verify.ts';
import { ConnectionPool } from '../../src/net/http.ts';
import { env, freePort, stack } from '../helpers/stack.ts';

const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
const get = (url: string, headers: Record<string, string> = {}) => fetch(url, { headers });
const verify = (registry: string, user: string, pass: string) =>
  verifyRegistry(checkCredential(registry, user, pass, undefined, { store: 't', key: 'k' }), {
    insecure: [],
    timeoutMs: 5000,
  });
const otherCa = () => {
  const file = join(mkdtempSync(join(tmpdir(), 'regcred-ca-')), 'ca.pem');
  writeFileSync(file, tls.rootCertificates[0] ?? '');
  return file;
};

describe('docker-registry, Basic (htpasswd)', () => {
  const v2 = () => `https://${stack.registryBasic}/v2/`;
  it('GET /v2/ is 401 without credentials, 401 with bad ones, 200 with good ones', async () => {
    const none = await get(v2());
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    expect((await get(v2(), { authorization: basic(stack.user, 'wrong') })).status).toBe(401);
    expect((await get(v2(), { authorization: basic(stack.user, stack.password) })).status).toBe(200);
  });
  it('verifier: accepted, wrong password rejected, unknown user rejected', async () => {
    expect(await verify(stack.registryBasic, stack.user, stack.password)).toMatchObject({
      outcome: 'accepted',
      flow: 'basic',
    });
    expect(await verify(stack.registryBasic, stack.user, 'wrong-password')).toMatchObject({
      outcome: 'rejected',
      flow: 'basic',
    });
    expect(await verify(stack.registryBasic, 'nobody', stack.password)).toMatchObject({
      outcome: 'rejected',
    });
  });
});

describe('docker-registry, Bearer (token server)', () => {
  const v2 = () => `https://${stack.registryBearer}/v2/`;
  it('GET /v2/ is 401 without a token, 401 with a bad one, 200 with one from the token server', async () => {
    const none = await get(v2());
    expect(none.status).toBe(401);
    const ch = none.headers.get('www-authenticate') ?? '';
    expect(ch).toBe(
      `Bearer realm="${env('REGCRED_STACK_TOKEN_SERVER')}/token",service="regcred-stack-registry"`,
    );
    expect((await get(v2(), { authorization: 'Bearer not-a-token' })).status).toBe(401);
    const realm = /realm="([^"]+)"/.exec(ch)?.[1] ?? '';
    expect(
      (await get(`${realm}?service=regcred-stack-registry`, { authorization: basic(stack.user, 'wrong') }))
        .status,
    ).toBe(401);
    const tok = (await (
      await get(`${realm}?service=regcred-stack-registry`, {
        authorization: basic(stack.user, stack.password),
      })
    ).json()) as { token: string };
    expect((await get(v2(), { authorization: `Bearer ${tok.token}` })).status).toBe(200);
  });
  it('verifier: follows the challenge to the token server; bad credentials are rejected there', async () => {
    expect(await verify(stack.registryBearer, stack.user2, stack.password2)).toMatchObject({
      outcome: 'accepted',
      flow: 'bearer',
    });
    expect(await verify(stack.registryBearer, stack.user, 'wrong-password')).toMatchObject({
      outcome: 'rejected',
      flow: 'bearer',
    });
  });
});

describe('verifier on things that are not a working registry', () => {
  it('a stopped registry (nothing listening) is unreachable', async () => {
    expect(await verify(`127.0.0.1:${await freePort()}`, 'u', 'p')).toMatchObject({
      outcome: 'unreachable',
      detail: expect.stringMatching(/refused/),
    });
  });
  it('a server that accepts the connection and never answers is unreachable once the timeout passes', async () => {
    const { createServer } = await import('node:net');
    const held: import('node:net').Socket[] = [];
    const silent = createServer((s) => held.push(s)); // reads nothing, answers nothing
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const host = `127.0.0.1:${(silent.address() as { port: number }).port}`;
    try {
      const t0 = performance.now();
      const r = await verifyRegistry(checkCredential(host, 'u', 'p', undefined, { store: 't', key: 'k' }), {
        insecure: [host], // plain HTTP: node:http's path (HTTPS would stall in the TLS handshake the same way)
        timeoutMs: 500,
      });
      expect(r).toMatchObject({
        outcome: 'unreachable',
        detail: expect.stringMatching(/no answer .* within 500 ms/),
      });
      expect(performance.now() - t0).toBeLessThan(5000);
    } finally {
      for (const s of held) s.destroy();
      silent.close();
    }
  });
  it('an HTTPS server that is not a registry is "not a registry"', async () => {
    const bao = new URL(env('REGCRED_STACK_BAO_ADDR')).host;
    expect(await verify(bao, 'u', 'p')).toMatchObject({ outcome: 'not-a-registry' });
  });
  it('a registry whose TLS certificate is not trusted is unreachable, with the reason', async () => {
    const r = await verifyRegistry(
      checkCredential(stack.registryBasic, 'u', 'p', undefined, {
        store: 't',
        key: 'k',
      }),
      {
        insecure: [],
        timeoutMs: 5000,
        // A pool that trusts one public root CA only, not the stack's.
        pool: new ConnectionPool(otherCa()),
      },
    );
    expect(r).toMatchObject({ outcome: 'unreachable', detail: expect.stringMatching(/TLS/) });
  });
});
