/**
 * The Key Vault double against Azure's own recorded responses (AKV-FACTS.md §7, quoted from
 * Azure/azure-sdk-assets and Azure/azure-sdk-for-js recordings): same status, same error code and inner
 * code, same challenge form, same body bytes where the recording fixes them. Raw HTTPS, no SDK in between,
 * plus one pass of the real SDK over every api-version the 4.x clients send.
 */
import { request } from 'node:https';
import { ClientSecretCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { beforeAll, describe, expect, it } from 'vitest';
import { azure, vaultWriter } from '../helpers/azure.ts';
import { suffix } from '../helpers/stack.ts';

const sfx = suffix();
let token = '';
const TENANT_IN_RECORDING = '12345678-1234-1234-1234-123456789012';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}
function call(method: string, path: string, opts: { auth?: boolean; body?: string } = {}): Promise<Reply> {
  const url = new URL(path, azure.vaultUrl);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        headers: {
          ...(opts.auth === false ? {} : { authorization: `Bearer ${token}` }),
          ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

beforeAll(async () => {
  const cred = new ClientSecretCredential(azure.tenant, azure.id('WRITER'), azure.secret('WRITER'));
  token = (await cred.getToken('https://vault.azure.net/.default')).token;
});

describe('recorded responses, replayed against the double', () => {
  it('(a) the challenge: 401, Bearer authorization=…/<tenant>, resource=https://vault.azure.net, the AKV10000 body', async () => {
    // recording_cant_get_a_disabled_secret.json (SDK 4.8.0, api 7.5): request without Authorization, Content-Length 0.
    const recorded = {
      status: 401,
      challenge: `Bearer authorization="https://login.microsoftonline.com/${TENANT_IN_RECORDING}", resource="https://vault.azure.net"`,
      contentType: 'application/json; charset=utf-8',
      contentLength: '97',
      body: '{"error":{"code":"Unauthorized","message":"AKV10000: Request is missing a Bearer or PoP token."}}',
    };
    const r = await call('GET', `/secrets/CRUDSecretName-${sfx}/?api-version=7.5`, { auth: false });
    expect(r.status).toBe(recorded.status);
    expect(r.headers['www-authenticate']).toBe(recorded.challenge.replace(TENANT_IN_RECORDING, azure.tenant));
    expect(r.headers['content-type']).toBe(recorded.contentType);
    expect(r.headers['content-length']).toBe(recorded.contentLength);
    expect(r.body).toBe(recorded.body);
    // The SDK's challenge parser splits on /,? +/ and keeps key="value" pairs: no spaces inside values.
    const pairs = String(r.headers['www-authenticate']).slice('Bearer '.length).split(/,? +/);
    expect(pairs).toEqual([
      `authorization="https://login.microsoftonline.com/${azure.tenant}"`,
      'resource="https://vault.azure.net"',
    ]);
  });

  it('(b) a disabled secret: 403 Forbidden / SecretDisabled, the recorded body byte for byte', async () => {
    const put = await call('PUT', `/secrets/disabled-${sfx}?api-version=7.5`, {
      body: JSON.stringify({ value: 'SECRET_VALUE', attributes: { enabled: false } }),
    });
    expect(put.status).toBe(200); // the PUT that creates a disabled secret succeeds, value in the body
    expect(JSON.parse(put.body)).toMatchObject({ value: 'SECRET_VALUE', attributes: { enabled: false } });
    const r = await call('GET', `/secrets/disabled-${sfx}/?api-version=7.5`);
    expect(r.status).toBe(403);
    expect(r.body).toBe(
      '{"error":{"code":"Forbidden","message":"Operation get is not allowed on a disabled secret.","innererror":{"code":"SecretDisabled"}}}',
    );
    expect(r.headers['content-length']).toBe('132');
  });

  it('(c) set with attributes: the SecretBundle shape — epoch seconds, 32-hex version, id on the vault origin, absent fields left out', async () => {
    // recording_can_set_a_secret_with_attributes.json: PUT {"value":"SECRET_VALUE","attributes":{"exp":32503680000}}
    const r = await call('PUT', `/secrets/withattrs-${sfx}?api-version=7.5`, {
      body: '{"value":"SECRET_VALUE","attributes":{"exp":32503680000}}',
    });
    expect(r.status).toBe(200);
    const b = JSON.parse(r.body) as { id: string; attributes: Record<string, unknown> } & Record<
      string,
      unknown
    >;
    expect(Object.keys(b).sort()).toEqual(['attributes', 'id', 'value']);
    expect(b.id).toMatch(new RegExp(`^${azure.vaultUrl}/secrets/withattrs-${sfx}/[0-9a-f]{32}$`));
    expect(Object.keys(b.attributes).sort()).toEqual(
      ['created', 'enabled', 'exp', 'recoverableDays', 'recoveryLevel', 'updated'].sort(),
    );
    expect(b.attributes).toMatchObject({ enabled: true, exp: 32503680000 });
    expect(Number.isInteger(b.attributes['created'])).toBe(true);
    expect(Math.abs((b.attributes['created'] as number) - Date.now() / 1000)).toBeLessThan(60);
  });

  it('(d) not found: 404 SecretNotFound with the recorded message', async () => {
    const name = `missing-${sfx}`;
    const r = await call('GET', `/secrets/${name}/?api-version=7.4`);
    expect(r.status).toBe(404);
    expect(JSON.parse(r.body)).toEqual({
      error: {
        code: 'SecretNotFound',
        message: `A secret with (name/id) ${name} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
      },
    });
  });

  it('(e) paging: absolute nextLink with :443, an opaque $skiptoken and maxresults kept; null on the last page', async () => {
    const name = `paged-${sfx}`;
    for (const v of ['1', '2', '3'])
      await call('PUT', `/secrets/${name}?api-version=7.5`, { body: JSON.stringify({ value: v }) });
    const seen: string[] = [];
    let next: string | null = `/secrets/${name}/versions?api-version=7.5&maxresults=1`;
    let pages = 0;
    while (next) {
      const r = await call('GET', next);
      expect(r.status).toBe(200);
      const page = JSON.parse(r.body) as { value: { id: string; value?: string }[]; nextLink: string | null };
      expect(page.value).toHaveLength(1);
      expect(page.value[0]).not.toHaveProperty('value');
      seen.push(page.value[0]!.id);
      if (page.nextLink !== null) {
        expect(page.nextLink).toMatch(
          new RegExp(
            `^https://regcred-stack\\.vault\\.azure\\.net:443/secrets/${name}/versions\\?api-version=7\\.5&\\$skiptoken=[A-Za-z0-9_-]+&maxresults=1$`,
          ),
        );
      }
      expect(Object.hasOwn(page, 'nextLink')).toBe(true);
      next = page.nextLink;
      pages++;
    }
    expect(pages).toBe(3);
    expect(new Set(seen).size).toBe(3);
  });

  it('(f) an empty name: PUT /secrets/ → 405 MethodNotAllowed', async () => {
    const r = await call('PUT', '/secrets/?api-version=7.5', { body: '{"value":"x"}' });
    expect(r.status).toBe(405);
    expect(r.body).toBe('{"error":{"code":"MethodNotAllowed","message":"HTTP PUT not allowed"}}');
  });

  it('the percent-encoded query name the 4.10+ SDKs send (api%2Dversion) is the same parameter', async () => {
    const r = await call('GET', `/secrets/missing-${sfx}/?api%2Dversion=2025-07-01`);
    expect(r.status).toBe(404);
  });
});

describe('the real SDK over every api-version the 4.x clients send', () => {
  it.each(['7.0', '7.1', '7.2', '7.3', '7.4', '7.5', '7.6', '2025-07-01', '2026-04-01'])(
    'serviceVersion %s',
    async (v) => {
      const c = new SecretClient(
        azure.vaultUrl,
        new ClientSecretCredential(azure.tenant, azure.id('WRITER'), azure.secret('WRITER')),
        {
          serviceVersion: v as '7.5',
        },
      );
      const set = await c.setSecret(`ver-${sfx}`, `for-${v}`);
      expect((await c.getSecret(`ver-${sfx}`)).value).toBe(`for-${v}`);
      expect(set.properties.version).toMatch(/^[0-9a-f]{32}$/);
      const got = await vaultWriter().getSecret(`ver-${sfx}`, { version: set.properties.version! });
      expect(got.properties.vaultUrl).toBe(azure.vaultUrl);
    },
  );
});
