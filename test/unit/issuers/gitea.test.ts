import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/base/logger.ts';
import { GiteaTokenIssuer } from '../../../src/issuers/gitea/index.ts';
import { parseTokenName, stamp, tokenName } from '../../../src/issuers/gitea/names.ts';
import { giteaTokenIssuerSchema } from '../../../src/issuers/gitea/schema.ts';

const at = new Date('2026-12-07T06:05:09.123Z');

describe('gitea token names: the ownership mark', () => {
  it('stamps UTC to the second and parses back', () => {
    expect(stamp(at)).toBe('20261207T060509Z');
    const name = tokenName('ci-pull', at, 'ab12');
    expect(name).toBe('regcred-ci-pull-20261207T060509Z-ab12');
    expect(parseTokenName('ci-pull', name)).toEqual(new Date('2026-12-07T06:05:09Z'));
  });

  it('gives each call its own random suffix', () => {
    const names = new Set(Array.from({ length: 50 }, () => tokenName('t', at)));
    expect(names.size).toBeGreaterThan(45);
    for (const n of names) expect(n).toMatch(/^regcred-t-20261207T060509Z-[a-z0-9]{4}$/);
  });

  it.each([
    ['a prefix target never claims a longer one', 'a', 'regcred-a-b-20261207T060509Z-ab12'],
    ['another target', 'b', 'regcred-a-20261207T060509Z-ab12'],
    ['a hand-made token with our prefix', 'a', 'regcred-a-test'],
    ['no random part', 'a', 'regcred-a-20261207T060509Z'],
    ['upper-case random part', 'a', 'regcred-a-20261207T060509Z-AB12'],
    ['a date that does not exist', 'a', 'regcred-a-20261332T060509Z-ab12'],
    ['trailing text', 'a', 'regcred-a-20261207T060509Z-ab12-copy'],
    ['regex characters in the target are literal', 'a.b', 'regcred-axb-20261207T060509Z-ab12'],
  ])('not ours: %s', (_why, target, name) => {
    expect(parseTokenName(target, name)).toBeUndefined();
  });

  it('a target whose name has regex characters still finds its own', () => {
    expect(parseTokenName('a.b', 'regcred-a.b-20261207T060509Z-ab12')).toEqual(
      new Date('2026-12-07T06:05:09Z'),
    );
  });
});

describe('gitea-token issuer config', () => {
  const base = {
    type: 'gitea-token',
    url: 'https://gitea.example.com',
    user: 'puller',
    login: { username: 'puller', password: { key: 'gitea-manager-token' } },
  };

  it('defaults to read:package tokens and a 15 s timeout', () => {
    expect(giteaTokenIssuerSchema.parse(base)).toMatchObject({
      scopes: ['read:package'],
      requestTimeoutSeconds: 15,
    });
  });

  it('takes the password from a file too', () => {
    const c = giteaTokenIssuerSchema.parse({
      ...base,
      login: { username: 'puller', password: { file: '/run/x' } },
    });
    expect(c.login.password).toEqual({ file: '/run/x' });
  });

  it.each([
    ['an unknown key', { ...base, expiry: '90d' }, 'expiry'],
    ['a password given inline', { ...base, login: { username: 'u', password: 'hunter2' } }, 'login.password'],
    [
      'a password with key and file',
      { ...base, login: { username: 'u', password: { key: 'k', file: 'f' } } },
      'login.password',
    ],
    ['a scope Gitea does not have', { ...base, scopes: ['read:packages'] }, 'scopes.0'],
    ['no scopes', { ...base, scopes: [] }, 'scopes'],
    ['a URL that is not one', { ...base, url: 'gitea.example.com' }, 'url'],
    ['no user', { ...base, user: '' }, 'user'],
  ])('refuses %s', (_why, doc, path) => {
    const r = giteaTokenIssuerSchema.safeParse(doc);
    expect(r.success).toBe(false);
    // An unknown key is reported at its parent, with the key in `keys`.
    const where = r.error?.issues.map((i) => [...i.path, ...('keys' in i ? i.keys : [])].join('.'));
    expect(where).toContain(path);
  });
});

describe('gitea-token issuer: describeIssue (dry runs)', () => {
  const config = giteaTokenIssuerSchema.parse({
    type: 'gitea-token',
    url: 'https://gitea.example.com',
    user: 'puller',
    login: { username: 'puller', password: { key: 'k' } },
  });
  const issuer = new GiteaTokenIssuer(config, {
    target: 'ci',
    password: () => Promise.reject(new Error('describeIssue must not log in')),
    logger: silentLogger(),
    now: () => new Date('2026-12-07T00:00:00Z'),
  });
  afterAll(() => issuer.close());
  const inUse = {
    id: '12',
    label: 'token regcred-ci-20260915T000000Z-ab12 of puller',
    issuedAt: new Date('2026-09-15T00:00:00Z'),
  };

  it('names the scopes, the user, the server and the token that stays valid', () => {
    expect(issuer.describeIssue(inUse, [{ ...inUse, state: 'active' }])).toBe(
      'create a read:package token of user "puller" at https://gitea.example.com; ' +
        'token regcred-ci-20260915T000000Z-ab12 of puller (issued 83 days ago) stays valid until revoked ' +
        '(1 of target "ci" there now)',
    );
  });

  it('on the first issue, says only what it creates', () => {
    expect(issuer.describeIssue(undefined, [])).toBe(
      'create a read:package token of user "puller" at https://gitea.example.com (0 of target "ci" there now)',
    );
  });
});
