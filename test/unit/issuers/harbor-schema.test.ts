import { describe, expect, it } from 'vitest';
import { harborRobotIssuerSchema } from '../../../src/issuers/harbor/schema.ts';

const base = {
  type: 'harbor-robot',
  url: 'https://harbor.example.com',
  project: 'team-a',
  robot: 'regcred-pull',
  login: { username: 'regcred-rotator', password: { key: 'harbor-password' } },
};
const problems = (v: unknown): string[] => {
  const r = harborRobotIssuerSchema.safeParse(v);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('harbor-robot issuer config', () => {
  it('defaults: pull only, 120-day secrets (a 90-day policy plus a month), 10 s requests', () => {
    const c = harborRobotIssuerSchema.parse(base);
    expect(c.permissions).toEqual([{ resource: 'repository', action: 'pull' }]);
    expect(c.durationDays).toBe(120);
    expect(c.requestTimeoutSeconds).toBe(10);
  });

  it('refuses a robot as the managing identity, saying why', () => {
    expect(problems({ ...base, login: { ...base.login, username: 'robot$team-a+manager' } })).toEqual([
      'login.username: must be a Harbor user, not a robot: Harbor never lets a robot refresh or update robots (robot:update cannot be granted)',
    ]);
  });

  it.each([
    [{ project: 'Team-A' }, 'project'],
    [{ robot: 'team-a+pull' }, 'robot'],
    [{ robot: 'robot$pull' }, 'robot'],
    [{ durationDays: 0 }, 'durationDays'],
    [{ durationDays: 1.5 }, 'durationDays'],
    [{ url: 'harbor.example.com' }, 'url'],
    [{ permissions: [] }, 'permissions'],
    [{ extra: 1 }, ''],
  ])('refuses %j (at %s)', (patch, path) => {
    const p = problems({ ...base, ...patch });
    expect(p.length).toBeGreaterThan(0);
    expect(p[0]!.startsWith(`${path}:`)).toBe(true);
  });

  it('the password comes from a store key or a file, never inline', () => {
    expect(problems({ ...base, login: { username: 'u', password: { file: '/run/pw' } } })).toEqual([]);
    expect(problems({ ...base, login: { username: 'u', password: 'inline' } })).toEqual([
      'login.password: must be { key: <store key> } or { file: <path> }',
    ]);
    expect(problems({ ...base, durationDays: -1 })).toEqual([]);
  });
});
