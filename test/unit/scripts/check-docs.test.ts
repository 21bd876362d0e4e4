import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { anchors, checkDocs } from '../../../scripts/check-docs.ts';

const SCRIPT = join(import.meta.dirname, '../../../scripts/check-docs.ts');
const FIXTURES = join(import.meta.dirname, '../../fixtures/docs');

/** The checker as `npm run lint` runs it: its exit code and its output lines. */
function run(root: string): { code: number | null; out: string[]; err: string[] } {
  const r = spawnSync(process.execPath, [SCRIPT, root], {
    encoding: 'utf8',
    cwd: join(import.meta.dirname, '../../..'),
  });
  const lines = (s: string) => s.split('\n').filter(Boolean);
  return { code: r.status, out: lines(r.stdout), err: lines(r.stderr) };
}

describe('scripts/check-docs.ts', () => {
  it('passes a tree whose links, anchors and code paths all resolve', () => {
    const r = run(join(FIXTURES, 'good'));
    expect(r.err).toEqual([]);
    expect(r.out).toEqual(['check-docs: 4 files, every reference resolves']);
    expect(r.code).toBe(0);
  });

  it('fails on a broken tree with one line per problem, naming file, line and what is wrong', () => {
    const r = run(join(FIXTURES, 'broken'));
    expect(r.code).toBe(1);
    const outside = (what: string, kind: string) =>
      `"${what}" refers to ${kind}: state the fact, or cite a file of this repository`;
    expect(r.err).toEqual([
      'README.md:3: link docs/nope.md: no such file or directory (docs/nope.md)',
      'README.md:4: link docs/guide.md#no-such-heading: docs/guide.md has no heading for #no-such-heading',
      'README.md:5: link ../outside.md: points outside the repository',
      'README.md:6: link /etc/passwd: use a path relative to README.md',
      'README.md:7: link src/main.txt#L3: #L3 can only be checked in a Markdown file',
      'README.md:8: reference link [nowhere] has no definition',
      'README.md:9: `src/gone.ts`: no such file or directory (src/gone.ts)',
      'README.md:9: `rotation/namespace.ts`: no such file or directory (rotation/namespace.ts)',
      `README.md:10: ${outside('AKV-FACTS', 'a facts file outside the repository')}`,
      `README.md:11: ${outside('SPEC', 'a specification outside the repository')}`,
      `README.md:12: ${outside('F10', 'a numbered fact of a list outside the repository')}`,
      `README.md:13: ${outside('issue 12', 'an issue of a tracker outside the repository')}`,
      `README.md:14: ${outside('../shared', 'a file outside the repository')}`,
      'README.md:17: `test/stack/missing.sh`: no such file or directory (test/stack/missing.sh)',
      'docs/guide.md:3: link #not-here: docs/guide.md has no heading for #not-here',
      'check-docs: 15 problem(s) in test/fixtures/docs/broken',
    ]);
  });

  it('derives heading anchors the way GitHub does', () => {
    const md = [
      '# The rotator’s own pull secret',
      '## Vault / OpenBao',
      '## `status`',
      '## Repeated',
      '## Repeated',
      '```',
      '# not a heading inside code',
      '```',
      '<a id="kept"></a>',
    ].join('\n');
    expect([...anchors(md)]).toEqual([
      'the-rotators-own-pull-secret',
      'vault--openbao',
      'status',
      'repeated',
      'repeated-1',
      'kept',
    ]);
  });

  it('accepts a file still arriving from another branch, and asks for its entry to go once it exists', () => {
    const root = mkdtempSync(join(tmpdir(), 'check-docs-'));
    cpSync(join(FIXTURES, 'good'), root, { recursive: true });
    writeFileSync(join(root, 'docs', 'later.md'), '# Later\n');
    writeFileSync(join(root, 'docs', 'index.md'), '[soon](soon.md) and [later](later.md)\n');
    const arriving = new Set(['docs/soon.md', 'docs/later.md']);
    expect(checkDocs(root, arriving).problems).toEqual([
      {
        file: 'scripts/check-docs.ts',
        line: 0,
        message: 'docs/later.md exists now: remove it from ARRIVING',
      },
    ]);
    expect(checkDocs(root, new Set()).problems.map((p) => p.message)).toEqual([
      'link soon.md: no such file or directory (docs/soon.md)',
    ]);
  });
});
