import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRequest, httpStream, lines } from '../../../src/net/http.ts';

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

describe('httpStream: the answer as it arrives', () => {
  let server: Server;
  let base = '';
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/denied') {
        res.writeHead(403, { 'content-type': 'application/json' });
        res.end('{"reason":"Forbidden"}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"a":1}\n{"b"');
      setTimeout(() => res.end(':2}\n\n{"c":3}\n'), 20);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('hands over the pieces in order; `lines` cuts them into lines across pieces', async () => {
    const pieces: string[] = [];
    const got: unknown[] = [];
    const cut = lines((l) => got.push(JSON.parse(l)));
    const res = await httpStream(`${base}/watch`, { timeoutMs: 5000 }, (t) => {
      pieces.push(t);
      cut(t);
    });
    expect(res).toMatchObject({ status: 200, text: '' });
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces.join('')).toBe('{"a":1}\n{"b":2}\n\n{"c":3}\n');
    expect(got).toEqual([{ a: 1 }, { b: 2 }, { c: 3 }]);
  });

  it('what the consumer throws fails the request; an error answer comes whole, not as pieces', async () => {
    const fails = httpStream(`${base}/watch`, { timeoutMs: 5000 }, () => {
      throw new SyntaxError('not JSON');
    });
    await expect(fails).rejects.toThrow();
    const pieces: string[] = [];
    const res = await httpStream(`${base}/denied`, { timeoutMs: 5000 }, (t) => pieces.push(t));
    expect(res).toMatchObject({ status: 403, text: '{"reason":"Forbidden"}' });
    expect(pieces).toEqual([]);
  });
});
