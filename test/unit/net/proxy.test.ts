import { describe, expect, it } from 'vitest';
import { parseProxyUrl, proxyFor, UnsupportedProxy } from '../../../src/net/proxy.ts';

const P = 'http://proxy.corp:3128';
const via = (url: string, env: Record<string, string>) => proxyFor(new URL(url), env)?.href;

describe('proxyFor: the rules kubectl (Go net/http) applies to HTTPS_PROXY, HTTP_PROXY and NO_PROXY', () => {
  it.each([
    ['https://registry.example.com/v2/', { HTTPS_PROXY: P }, `${P}/`],
    ['https://registry.example.com/v2/', { https_proxy: P }, `${P}/`],
    ['https://registry.example.com/v2/', { HTTP_PROXY: P }, undefined], // https takes HTTPS_PROXY only
    ['http://registry.example.com/v2/', { HTTP_PROXY: P }, `${P}/`],
    ['http://registry.example.com/v2/', { HTTPS_PROXY: P }, undefined],
    ['https://registry.example.com/', { HTTPS_PROXY: 'proxy.corp:3128' }, `${P}/`], // no scheme: http://
    ['https://127.0.0.1:6443/', { HTTPS_PROXY: P }, undefined], // loopback is never proxied
    ['https://localhost:6443/', { HTTPS_PROXY: P }, undefined],
    ['https://[::1]:6443/', { HTTPS_PROXY: P }, undefined],
    ['https://a.example.com/', { HTTPS_PROXY: P, NO_PROXY: '*' }, undefined],
    ['https://example.com/', { HTTPS_PROXY: P, NO_PROXY: 'example.com' }, undefined],
    ['https://a.example.com/', { HTTPS_PROXY: P, NO_PROXY: 'example.com' }, undefined],
    ['https://notexample.com/', { HTTPS_PROXY: P, NO_PROXY: 'example.com' }, `${P}/`],
    ['https://example.com/', { HTTPS_PROXY: P, NO_PROXY: '.example.com' }, `${P}/`], // subdomains only
    ['https://a.example.com/', { HTTPS_PROXY: P, NO_PROXY: '.example.com' }, undefined],
    ['https://a.example.com/', { HTTPS_PROXY: P, NO_PROXY: '*.example.com' }, undefined],
    ['https://10.213.0.1:15000/', { HTTPS_PROXY: P, NO_PROXY: '10.213.0.1' }, undefined],
    ['https://10.213.0.1:15000/', { HTTPS_PROXY: P, NO_PROXY: '10.0.0.0/8' }, undefined],
    ['https://11.0.0.1:15000/', { HTTPS_PROXY: P, NO_PROXY: '10.0.0.0/8' }, `${P}/`],
    ['https://10.213.0.1:15000/', { HTTPS_PROXY: P, NO_PROXY: '10.213.0.1:15000' }, undefined],
    ['https://10.213.0.1:15001/', { HTTPS_PROXY: P, NO_PROXY: '10.213.0.1:15000' }, `${P}/`],
    ['https://r.example.com/', { HTTPS_PROXY: P, NO_PROXY: 'r.example.com:443' }, undefined],
    ['https://[fd00::5]:443/', { HTTPS_PROXY: P, NO_PROXY: 'fd00::/8' }, undefined],
    ['https://[fe80::5]:443/', { HTTPS_PROXY: P, NO_PROXY: 'fd00::/8' }, `${P}/`],
    ['https://b.example.org/', { HTTPS_PROXY: P, NO_PROXY: ' a.example.org , b.example.org ' }, undefined],
    ['https://b.example.org/', { HTTPS_PROXY: P, no_proxy: 'b.example.org' }, undefined],
  ])('%s with %o → %s', (url, env, want) => {
    expect(via(url, env)).toBe(want);
  });

  it('refuses a proxy it cannot use instead of going direct, without printing its password', () => {
    const env = { HTTPS_PROXY: 'socks5://user:hunter2@proxy.corp:1080' };
    expect(() => proxyFor(new URL('https://r.example.com/'), env)).toThrow(UnsupportedProxy);
    expect(() => proxyFor(new URL('https://r.example.com/'), env)).toThrow(/only http:\/\/ and https:\/\//);
    expect(() => proxyFor(new URL('https://r.example.com/'), env)).not.toThrow(/hunter2/);
  });

  it('parses proxy-url values', () => {
    expect(parseProxyUrl('https://p:8443')?.href).toBe('https://p:8443/');
    expect(parseProxyUrl('socks5://p:1080')).toBeUndefined();
  });
});
