import { describe, expect, it } from 'vitest';
import {
  buildDockerConfigJson,
  checkCredential,
  parseDockerConfigJson,
} from '../../../src/credentials/dockerconfig.ts';
import { normaliseRegistryKey, registryApiHost } from '../../../src/credentials/registry-key.ts';

const origin = { store: 's', key: 'k' };
const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('buildDockerConfigJson', () => {
  it('writes auths with username, password and auth = base64(user:pass), registries sorted, byte-stable', () => {
    const creds = [
      checkCredential('z.example.com', 'u2', 'p:2', undefined, origin),
      checkCredential('a.example.com', 'u1', 'p1', 'ops@example.com', origin),
    ];
    const json = buildDockerConfigJson(creds).reveal();
    expect(json).toBe(
      JSON.stringify({
        auths: {
          'a.example.com': { username: 'u1', password: 'p1', auth: b64('u1:p1'), email: 'ops@example.com' },
          'z.example.com': { username: 'u2', password: 'p:2', auth: b64('u2:p:2') },
        },
      }),
    );
    expect(buildDockerConfigJson([...creds].reverse()).reveal()).toBe(json);
  });
  it('round-trips through the parser (passwords may contain ":", unicode)', () => {
    const creds = [checkCredential('r.example.com', 'robot$x', 'pä:ss:wörd', undefined, origin)];
    const parsed = parseDockerConfigJson(buildDockerConfigJson(creds).reveal(), origin);
    expect(parsed.map((c) => [c.registry, c.username, c.password.reveal()])).toEqual([
      ['r.example.com', 'robot$x', 'pä:ss:wörd'],
    ]);
  });
});

describe('parseDockerConfigJson rejects what the kubelet would choke on (F5–F7)', () => {
  it.each([
    ['not json', /is not valid JSON/],
    ['[]', /not a JSON object/],
    ['{}', /has no "auths" object/],
    ['{"auths":"a string"}', /"auths" is not an object/],
    ['{"auths":{}}', /"auths" is empty/],
    ['{"auths":{"r.io":"x"}}', /auths\["r.io"\] is not an object/],
    ['{"auths":{"r.io":{"auth":"not base64!"}}}', /auth is not standard base64/],
    [`{"auths":{"r.io":{"auth":"${b64('nocolon')}"}}}`, /does not decode to "username:password"/],
    [
      `{"auths":{"r.io":{"auth":"${b64('u:p')}","username":"other"}}}`,
      /auth and username\/password disagree/,
    ],
    ['{"auths":{"r.io":{"username":"u"}}}', /neither auth nor both username and password/],
    ['{"auths":{"r.io":{"username":"u:x","password":"p"}}}', /contains ":"/],
    ['{"auths":{"r.io":{"username":"u","password":""}}}', /empty password/],
    ['{"auths":{"r.io":{"username":"","password":"p"}}}', /empty username/],
    ['{"auths":{"r.io":{"username":5,"password":"p"}}}', /username is not a string/],
    ['{"auths":{"":{"username":"u","password":"p"}}}', /registry is empty/],
    [
      '{"auths":{"https://R.io/":{"username":"u","password":"p"},"r.io":{"username":"u","password":"q"}}}',
      /normalise to registry "r.io" with different credentials/,
    ],
  ])('%s', (text, want) => {
    expect(() => parseDockerConfigJson(text, origin)).toThrow(want);
  });
  it('never puts the value in the error', () => {
    try {
      parseDockerConfigJson('{"auths":{"r.io":{"username":"u:x","password":"hunter2-secret"}}}', origin);
    } catch (e) {
      expect((e as Error).message).not.toContain('hunter2');
      expect((e as Error).message).toMatch(/store "s" key "k"/);
    }
  });
  it('accepts auth-only entries and normalises keys', () => {
    const c = parseDockerConfigJson(
      `{"auths":{"https://index.docker.io/v1/":{"auth":"${b64('u:p:q')}"}}}`,
      origin,
    );
    expect(c.map((x) => [x.registry, x.username, x.password.reveal()])).toEqual([
      ['https://index.docker.io/v1/', 'u', 'p:q'],
    ]);
  });
});

describe('registry keys', () => {
  it.each([
    ['myregistry.azurecr.io', 'myregistry.azurecr.io'],
    ['https://MyRegistry.azurecr.io/', 'myregistry.azurecr.io'],
    ['docker.io', 'https://index.docker.io/v1/'],
    ['https://index.docker.io/v1/', 'https://index.docker.io/v1/'],
    ['127.0.0.1:5000', '127.0.0.1:5000'],
    ['harbor.example.com/team', 'harbor.example.com/team'],
    ['*.example.com', '*.example.com'],
  ])('%s -> %s', (raw, key) => expect(normaliseRegistryKey(raw)).toEqual({ key }));
  it.each(['', 'a b', 'bad_host!', 'http://'])('rejects %j', (raw) =>
    expect(normaliseRegistryKey(raw)).toHaveProperty('error'),
  );
  it('Docker Hub is verified on registry-1.docker.io', () => {
    expect(registryApiHost('https://index.docker.io/v1/')).toBe('registry-1.docker.io');
    expect(registryApiHost('harbor.example.com/team')).toBe('harbor.example.com');
  });
});
