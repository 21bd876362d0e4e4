import { describe, expect, it } from 'vitest';
import { progressReporter } from '../../../src/cli/progress.ts';

function fakeStream(isTTY: boolean) {
  const out: string[] = [];
  return { stream: { isTTY, write: (s: string) => out.push(s) } as unknown as NodeJS.WriteStream, out };
}

describe('progress line', () => {
  it('on a TTY, for many namespaces: one updating line, cleared at the end', () => {
    const { stream, out } = fakeStream(true);
    const p = progressReporter(stream, 20);
    p.update(1, 100);
    p.update(100, 100);
    p.end();
    expect(out[0]?.startsWith('\r\u001b[2Kregcred-rotator: 1/100 namespaces')).toBe(true);
    expect(out.at(-2)).toMatch(/100\/100 namespaces/);
    expect(out.at(-1)).toBe('\r\x1b[2K');
  });
  it('silent when not a TTY, or for a few namespaces', () => {
    for (const [tty, total] of [
      [false, 1000],
      [true, 5],
    ] as const) {
      const { stream, out } = fakeStream(tty);
      const p = progressReporter(stream, 20);
      p.update(1, total);
      p.end();
      expect(out).toEqual([]);
    }
  });
});
