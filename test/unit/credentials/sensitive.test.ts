import { inspect } from 'node:util';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { forgetSecret, scrub, Sensitive } from '../../../src/base/sensitive.ts';
import { createLogger } from '../../../src/base/logger.ts';

describe('Sensitive', () => {
  const s = new Sensitive('correct horse battery staple');
  it('prints as [redacted] every way a value gets printed', () => {
    expect(String(s)).toBe('[redacted]');
    // eslint-disable-next-line @typescript-eslint/restrict-template-expressions -- the point of the test
    expect(`${s}`).toBe('[redacted]');
    expect(JSON.stringify({ s })).toBe('{"s":"[redacted]"}');
    expect(inspect({ s })).toBe('{ s: [redacted] }');
    expect(s.reveal()).toBe('correct horse battery staple');
  });
  it('scrub removes known secrets, their JSON-escaped and base64 forms', () => {
    const q = new Sensitive('p"w\\d-123');
    expect(scrub(`a correct horse battery staple b`)).toBe('a [redacted] b');
    expect(scrub(JSON.stringify({ x: q.reveal() }))).toBe('{"x":"[redacted]"}');
    expect(scrub(Buffer.from('correct horse battery staple').toString('base64'))).toBe('[redacted]');
  });
  it('forgetSecret un-registers a value that is not secret (a username)', () => {
    new Sensitive('robot-user');
    expect(scrub('robot-user')).toBe('[redacted]');
    forgetSecret('robot-user');
    expect(scrub('robot-user')).toBe('robot-user');
  });
  it('the logger redacts by path and scrubs every line', () => {
    const lines: string[] = [];
    const dest = new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) });
    const log = createLogger({ format: 'json', level: 'debug', destination: dest });
    const secret = new Sensitive('s3cr3t-value-xyz');
    log.info(
      {
        password: 'plain-field',
        nested: { token: 'tok' },
        cred: secret,
        msgField: `leak ${secret.reveal()}`,
      },
      'constant message',
    );
    const out = lines.join('');
    expect(out).not.toContain('plain-field');
    expect(out).not.toContain('s3cr3t-value-xyz');
    expect(out).toContain('constant message');
  });
});
