/**
 * `regcred-rotator completion bash|zsh|fish`: each script, loaded into the real shell, offers the commands,
 * each command's options, and the values of options with choices (bash through its completion function,
 * zsh through an interactive shell in a pseudo-terminal, fish through `complete -C`).
 */
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../../..');
const dir = mkdtempSync(join(tmpdir(), 'completion-'));

function script(shell: string): string {
  const r = spawnSync(
    join(ROOT, 'node_modules/.bin/node'),
    [join(ROOT, 'src/cli/main.ts'), 'completion', shell],
    {
      encoding: 'utf8',
    },
  );
  expect(r.status, r.stderr).toBe(0);
  const f = join(dir, `completion.${shell}`);
  writeFileSync(f, r.stdout);
  return f;
}

const has = (shell: string): boolean => spawnSync('sh', ['-c', `command -v ${shell}`]).status === 0;
const lines = (s: string): string[] =>
  s
    .split('\n')
    .map((l) => l.split('\t')[0]?.trim() ?? '')
    .filter(Boolean)
    .sort();

const run = promisify(execFile);
const out = (args: [string, string[], { cwd?: string }?]) =>
  run(args[0], args[1], { encoding: 'utf8', ...args[2] }).then((r) => lines(r.stdout));

/** What the shell offers after `line` (the word being completed is the last, possibly empty). */
const offers: Record<string, (f: string, line: string) => Promise<string[]>> = {
  bash: (f, line) =>
    out([
      'bash',
      [
        '-c',
        `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); _regcred_rotator; printf '%s\\n' "\${COMPREPLY[@]}"`,
        'x',
        f,
        ...line.split(' '),
      ],
      { cwd: dir },
    ]),
  zsh: (f, line) => out(['zsh', [join(import.meta.dirname, 'zsh-complete.zsh'), f, line]]),
  fish: (f, line) => out(['fish', ['-N', '-c', `source ${f}; complete -C'${line}'`]]),
};

const CASES: [string, string[]][] = [
  ['regcred-rotator st', ['status']],
  ['regcred-rotator sch', ['scheduler']],
  ['regcred-rotator status -o ', ['json', 'table', 'yaml']],
  ['regcred-rotator validate --output y', ['yaml']],
  ['regcred-rotator --log-level w', ['warn']],
  ['regcred-rotator completion ', ['bash', 'fish', 'zsh']],
  ['regcred-rotator prune --tar', ['--target']],
  ['regcred-rotator status --all', ['--all-secrets']],
  ['regcred-rotator fleet ', ['forget', 'id']],
];

describe.each(['bash', 'zsh', 'fish'])('completion %s', (shell) => {
  it.skipIf(!has(shell))(
    `offers commands, options and choices (needs ${shell}: test/stack/deps.sh installs it)`,
    async () => {
      const f = script(shell);
      // One shell per case, all at once: an interactive zsh takes seconds to start.
      const got = await Promise.all(CASES.map(([line]) => offers[shell]!(f, line)));
      CASES.forEach(([line, want], i) => expect(got[i], line).toEqual(want));
    },
    60_000,
  );
});

it('bash completes file names after --config', async () => {
  writeFileSync(join(dir, 'my-config.yaml'), '');
  expect(await offers['bash']!(script('bash'), 'regcred-rotator --config my-c')).toEqual(['my-config.yaml']);
});
