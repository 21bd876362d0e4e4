/**
 * Runs the real CLI on the project's Node 24 the way an operator or CronJob does: REGCRED_TEST_MAIN, which
 * `npm test` sets to the bundle it builds first (dist/cli/main.js, what ships), else src/cli/main.ts.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { stack, waitFor } from './stack.ts';

const ROOT = resolve(import.meta.dirname, '../..');
export const NODE = join(ROOT, 'node_modules/.bin/node');
export const MAIN = resolve(ROOT, process.env['REGCRED_TEST_MAIN'] ?? 'src/cli/main.ts');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stderr parsed as JSON log lines (non-JSON lines are skipped). */
  logs: Record<string, unknown>[];
  summary: Record<string, unknown> | undefined;
  /** What an operator reads: plain stderr lines and, for JSON lines, their `msg` and `err` fields. */
  text: string;
}

/** Environment overrides for a child process: a value sets the variable, `undefined` removes it. */
export type EnvOverrides = Record<string, string | undefined>;

/** Environment for a CLI child whose clock runs `days` ahead (clock-ahead.ts). */
export const clockAhead = (days: number): EnvOverrides => ({
  NODE_OPTIONS: `--import=${resolve(import.meta.dirname, 'clock-ahead.ts')}`,
  REGCRED_TEST_CLOCK_AHEAD_DAYS: String(days),
});

export function childEnv(over: EnvOverrides = {}): NodeJS.ProcessEnv {
  const merged = { ...process.env, ...over };
  return Object.fromEntries(Object.entries(merged).filter(([, v]) => v !== undefined));
}

export function runCli(
  args: string[],
  opts: { env?: EnvOverrides; timeoutMs?: number; onSpawn?: (pid: number) => void } = {},
): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(NODE, [MAIN, ...args], {
      env: childEnv(opts.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (child.pid !== undefined) opts.onSpawn?.(child.pid);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const logs = stderr
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => {
          try {
            return JSON.parse(l) as Record<string, unknown>;
          } catch {
            return undefined;
          }
        })
        .filter((x): x is Record<string, unknown> => x !== undefined);
      const text = stderr
        .split('\n')
        .map((l) => {
          if (!l.startsWith('{')) return l;
          const j = logs.find((x) => JSON.stringify(x) === l) ?? (JSON.parse(l) as Record<string, unknown>);
          return [j['msg'], j['err']].filter(Boolean).join(': ');
        })
        .join('\n');
      resolvePromise({
        code: code ?? (signal ? 128 : -1),
        stdout,
        stderr,
        logs,
        text,
        summary: logs.find((l) => l['msg'] === 'run summary'),
      });
    });
  });
}

/** A long-running CLI (scheduler mode, or a run to interrupt): `seen` resolves once stderr matches `msg`. */
export function spawnCli(args: string[], msg: RegExp, env?: EnvOverrides) {
  const child = spawn(NODE, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv(env) });
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const closed = new Promise<number>((r) => child.on('close', (code) => r(code ?? -1)));
  const until = (re: RegExp, timeoutMs = 60_000) =>
    waitFor(`log ${re}`, async () => (re.test(err) ? true : undefined), timeoutMs);
  /** SIGTERM unless it has ended; its stderr once it has. */
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await closed;
    return err;
  };
  return { child, seen: until(msg), until, closed, stderr: () => err, stop };
}

/** A scratch directory with a config.yaml (and a creds/ directory for the file store). */
export class Workspace {
  readonly dir = mkdtempSync(join(tmpdir(), 'regcred-it-'));
  readonly creds = join(this.dir, 'creds');
  readonly config = join(this.dir, 'config.yaml');
  constructor() {
    mkdirSync(this.creds);
  }
  /**
   * Writes the config. Tests do not revoke credentials right after a run, so they need no settle period:
   * `rotation.settleSeconds` defaults to 0 here unless the test sets it (the product's default is 30).
   */
  writeConfig(doc: unknown): string {
    const d = doc as { rotation?: unknown } | null;
    const plain = (x: unknown): x is Record<string, unknown> =>
      typeof x === 'object' && x !== null && !Array.isArray(x);
    const withSettle =
      plain(d) && (d.rotation === undefined || plain(d.rotation))
        ? { ...d, rotation: { settleSeconds: 0, ...(d.rotation ?? {}) } }
        : doc;
    writeFileSync(this.config, stringify(withSettle));
    return this.config;
  }
  cred(name: string, value: string, mtime?: Date): void {
    const f = join(this.creds, name);
    writeFileSync(f, value);
    if (mtime) {
      utimesSync(f, mtime, mtime);
    }
  }
  rotate(args: string[] = [], env?: EnvOverrides): Promise<CliResult> {
    return runCli(['--config', this.config, '--log-format', 'json', '--rotate-now', ...args], { env });
  }
}

/**
 * The usual test config: a file store over the workspace's creds/ directory and one target on the stack's
 * Basic registry reading `user` and `pass`; `target` and `extra` override or add keys.
 */
export function fileConfig(
  w: Workspace,
  target: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): string {
  return w.writeConfig({
    stores: { local: { type: 'file', path: w.creds } },
    targets: [
      {
        name: 'stack',
        store: 'local',
        registry: stack.registryBasic,
        credentials: { username: { key: 'user' }, password: { key: 'pass' } },
        ...target,
      },
    ],
    ...extra,
  });
}

/** Writes the first (or second) real registry user of the stack as the `user` / `pass` keys. */
export function useCreds(w: Workspace, which: 1 | 2, mtime?: Date): void {
  w.cred('user', which === 1 ? stack.user : stack.user2, mtime);
  w.cred('pass', which === 1 ? stack.password : stack.password2, mtime);
}
