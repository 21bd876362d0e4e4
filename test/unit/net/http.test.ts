import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRequest } from '../../../src/net/http.ts';

describe('httpRequest: the body', () => {
  let server: Server;
  let url = '';
  // "é" is two bytes in UTF-8; the server sends them in two writes, with a pause between, so the client
  // sees them in two chunks: the body is decoded as it arrives and must not break the character.
  const body = JSON.stringify({ items: [{ name: 'café' }, { name: 'naïve' }] });
  const bytes = Buffer.from(body, 'utf8');
  const cut = bytes.indexOf(Buffer.from('é', 'utf8')) + 1;

  beforeAll(async () => {
    server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(bytes.subarray(0, cut));
      setTimeout(() => res.end(bytes.subarray(cut)), 20);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/list`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('a multi-byte character split between chunks arrives whole', async () => {
    expect(cut).toBeGreaterThan(0);
    const res = await httpRequest(url, { timeoutMs: 5000 });
    expect(res.status).toBe(200);
    expect(res.text).toBe(body);
    expect(JSON.parse(res.text)).toEqual({ items: [{ name: 'café' }, { name: 'naïve' }] });
  });
});
