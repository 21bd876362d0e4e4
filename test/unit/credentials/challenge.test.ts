import { describe, expect, it } from 'vitest';
import { parseChallenges } from '../../../src/credentials/verify.ts';

describe('WWW-Authenticate challenges', () => {
  it.each([
    ['none', null, []],
    [
      'Basic (htpasswd)',
      'Basic realm="regcred-stack"',
      [{ scheme: 'basic', params: { realm: 'regcred-stack' } }],
    ],
    [
      'Bearer (distribution token auth)',
      'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"',
      [
        {
          scheme: 'bearer',
          params: {
            realm: 'https://auth.example/token',
            service: 'registry.example',
            scope: 'repository:a/b:pull',
          },
        },
      ],
    ],
    [
      // Gitea sends two WWW-Authenticate headers; Node joins them with ", ".
      'Bearer and Basic in one value (Gitea)',
      'Bearer realm="https://10.213.0.1:15004/v2/token",service="container_registry",scope="*", Basic realm="Gitea Container Registry"',
      [
        {
          scheme: 'bearer',
          params: { realm: 'https://10.213.0.1:15004/v2/token', service: 'container_registry', scope: '*' },
        },
        { scheme: 'basic', params: { realm: 'Gitea Container Registry' } },
      ],
    ],
    [
      'unquoted values, spaces around "=", escaped quotes',
      'Bearer realm = https://a/token , service=svc, error="say \\"no\\""',
      [{ scheme: 'bearer', params: { realm: 'https://a/token', service: 'svc', error: 'say "no"' } }],
    ],
    ['a scheme without parameters', 'Negotiate', [{ scheme: 'negotiate', params: {} }]],
  ])('%s', (_what, header, expected) => {
    expect(parseChallenges(header)).toEqual(expected);
  });
});
