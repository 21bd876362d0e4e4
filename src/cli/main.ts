#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-semi-space-size=8 --heap-growing-percent=20
import { readFileSync } from 'node:fs';
import { Argument, Command, CommanderError, Option } from 'commander';
import { scrub } from '../base/sensitive.ts';
import { ConfigError, describeError, RotatorError } from '../errors.ts';
// Commands are imported when they run: `--version` and `--help` load none of them (no Kubernetes client,
// no store SDK, no metrics library), and each command loads only what it uses.
import { EXIT, exitCodeForError, type ExitCode } from './exit-codes.ts';
import { parseRequestTimeout, type GlobalOptions } from './options.ts';
import { outputOption, SHELLS, type OutputFormat, type Shell } from './choices.ts';
import { addAdmissionOptions } from '../admission/options.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

const collect = (v: string, prev: string[] | undefined): string[] => [
  ...(prev ?? []),
  ...v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
];

function globals(cmd: Command): GlobalOptions {
  const o = cmd.optsWithGlobals<Omit<GlobalOptions, 'requestTimeout'> & { requestTimeout: string }>();
  return { ...o, requestTimeout: parseRequestTimeout(o.requestTimeout) };
}

export function buildProgram(run: (code: ExitCode) => void): Command {
  const program = new Command('regcred-rotator')
    .description('Keeps Kubernetes image-pull secrets fresh: fetch, verify, swap with zero pull failures.')
    .version(pkg.version)
    .option('--config <file>', 'config file (default: $REGCRED_ROTATOR_CONFIG, then ./config.yaml)')
    .option('--kubeconfig <file>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)')
    .option('--context <name>', 'kubeconfig context')
    .option(
      '-n, --namespace <ns>',
      'limit the run to these namespaces (repeatable, comma-separated)',
      collect,
    )
    .addOption(
      new Option('--log-level <level>', 'log level').choices([
        'trace',
        'debug',
        'info',
        'warn',
        'error',
        'silent',
      ]),
    )
    .addOption(
      new Option('--log-format <format>', 'log format (pretty on a TTY)').choices(['json', 'pretty']),
    )
    .option(
      '--request-timeout <duration>',
      'timeout of each Kubernetes request: 30s, 1m, 500ms, or seconds (0: none)',
      '30s',
    )
    .option('--rotate-now', 'one rotation pass over every target, then exit (what the CronJob runs)')
    .option('--dry-run', 'with --rotate-now: print the actions, write nothing')
    .option('--wait-for-lock', 'if another run holds the lock, wait for it instead of exiting 4')
    .option(
      '--reissue',
      'with --rotate-now: targets with an issuer mint a new credential now, whatever its age',
    )
    .option(
      '--force <clusters>',
      'with --rotate-now: revoke old credentials although these clusters have not rolled out (comma-separated)',
      collect,
    )
    .option('-v, --verbose', 'list unchanged namespaces in the summary too')
    .option('--summary', 'print the summary table even when stdout is not a terminal')
    .showHelpAfterError()
    .exitOverride()
    .action(async (_o, cmd: Command) => rootAction(cmd, run));
  addCommands(program, run);
  return program;
}

/**
 * Without a command: `--rotate-now` runs one pass (the CronJob); anything else prints the help and writes
 * nothing — scheduler mode is the `scheduler` command, never a default.
 */
async function rootAction(cmd: Command, run: (code: ExitCode) => void): Promise<void> {
  const g = globals(cmd);
  const o = cmd.opts<{
    rotateNow?: boolean;
    dryRun?: boolean;
    waitForLock?: boolean;
    verbose?: boolean;
    summary?: boolean;
    reissue?: boolean;
    force?: string[];
  }>();
  if ((o.reissue || o.force) && !o.rotateNow)
    throw new RotatorError('USAGE', '--reissue and --force need --rotate-now');
  if (o.dryRun && !o.rotateNow)
    throw new RotatorError('USAGE', '--dry-run needs --rotate-now (or use `plan`)');
  if (o.rotateNow) {
    const { rotateNow } = await import('./commands/rotate.ts');
    const { asRun } = await import('./run-end.ts');
    const r = await asRun(g, o.dryRun !== true, () =>
      rotateNow(g, {
        dryRun: o.dryRun === true,
        table: o.summary === true ? 'always' : 'tty',
        verbose: o.verbose,
        waitForLock: o.waitForLock === true,
        reissue: o.reissue === true,
        force: o.force,
      }),
    );
    run(r.code);
  } else {
    const { noCommand } = await import('./no-command.ts');
    run(noCommand(cmd));
  }
}

function addCommands(program: Command, run: (code: ExitCode) => void): void {
  // The admission options belong to scheduler mode: the webhook and the policy's params live in its process.
  addAdmissionOptions(
    program
      .command('scheduler')
      .description("rotate on the config's schedule and watch between runs; serves /metrics and /healthz"),
  ).action(async (_o, cmd: Command) => {
    const { runScheduler } = await import('./commands/scheduler.ts');
    const { asRun } = await import('./run-end.ts');
    const g = globals(cmd);
    const waitForLock = cmd.optsWithGlobals<{ waitForLock?: boolean }>().waitForLock === true;
    run(await asRun(g, false, () => runScheduler(g, waitForLock)));
  });

  program
    .command('plan')
    .description('same as --rotate-now --dry-run: print the actions, write nothing')
    .addOption(outputOption())
    .action(async (o: { output: OutputFormat }, cmd: Command) => {
      const { rotateNow } = await import('./commands/rotate.ts');
      const { asRun } = await import('./run-end.ts');
      const g = globals(cmd);
      const r = await asRun(g, false, () =>
        rotateNow(g, { dryRun: true, table: 'always', verbose: true, waitForLock: false, output: o.output }),
      );
      run(r.code);
    });

  program
    .command('status')
    .description(
      'per target × namespace: secret in use, age, revision, ServiceAccounts, pods on older secrets, policy',
    )
    .addOption(outputOption())
    .option('--all-secrets', 'also report unmanaged dockerconfigjson secrets older than the maximum age')
    .option(
      '--fleet',
      'one row per cluster of each fleet ledger: what it rolled out, what holds revocation back',
    )
    .action(async (o: { output: OutputFormat; allSecrets?: boolean; fleet?: boolean }, cmd: Command) => {
      const { status } = await import('./commands/status.ts');
      run(await status(globals(cmd), o.output, o.allSecrets === true, o.fleet === true));
    });

  program
    .command('doctor')
    .description('why is my pod in ImagePullBackOff: checks pull secrets, ServiceAccounts, pods and Events')
    .addOption(outputOption())
    .action(async (o: { output: OutputFormat }, cmd: Command) => {
      const { doctor } = await import('./commands/doctor.ts');
      run(await doctor(globals(cmd), o.output));
    });

  program
    .command('prune')
    .description('delete Secrets of targets removed from the config that nothing references any more')
    .option('--dry-run', 'print what would be removed, write nothing')
    .option('--target <name>', 'also prune this target (not in the config), repeatable', collect)
    .addOption(outputOption())
    .action(async (o: { output: OutputFormat; target?: string[] }, cmd: Command) => {
      // `--dry-run` is also a root option (for --rotate-now): after `prune` the root may claim it.
      const dryRun = cmd.optsWithGlobals<{ dryRun?: boolean }>().dryRun === true;
      const { prune } = await import('./commands/prune.ts');
      run(await prune(globals(cmd), { dryRun, output: o.output, targets: o.target ?? [] }));
    });

  const fleet = program
    .command('fleet')
    .description('several clusters, one registry credential: the clusters in the fleet ledgers');
  fleet
    .command('id')
    .description(
      "this cluster's id in fleet ledgers (REGCRED_ROTATOR_CLUSTER_ID, fleet.clusterId, or kube-system's UID)",
    )
    .action(async (_o, cmd: Command) => {
      const { fleetId } = await import('./commands/fleet.ts');
      run(await fleetId(globals(cmd)));
    });
  fleet
    .command('forget <cluster>')
    .description(
      'a cluster that is gone: it no longer holds revocations back (it registers again if it runs)',
    )
    .action(async (cluster: string, _o, cmd: Command) => {
      const { fleetForget } = await import('./commands/fleet.ts');
      run(await fleetForget(globals(cmd), cluster));
    });

  program
    .command('validate')
    .description('check the config; --online also reaches every store and registry')
    .option('--online', 'contact every store and registry')
    .addOption(outputOption())
    .action(async (o: { online?: boolean; output: OutputFormat }, cmd: Command) => {
      const { validate } = await import('./commands/validate.ts');
      run(await validate(globals(cmd), o.online === true, o.output));
    });

  program
    .command('completion')
    .description('print a shell completion script: source <(regcred-rotator completion bash)')
    .addArgument(new Argument('<shell>', 'bash, zsh or fish').choices(SHELLS))
    .action(async (shell: Shell) => {
      const { completionScript } = await import('./completion.ts');
      process.stdout.write(completionScript(program, shell));
      run(EXIT.ok);
    });
}

/** Prints an error for a tired operator: one scrubbed message, and the code it maps to. */
function fail(e: unknown): ExitCode {
  if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
  const msg = e instanceof ConfigError || e instanceof RotatorError ? e.message : describeError(e);
  process.stderr.write(`regcred-rotator: ${scrub(msg)}\n`);
  if (!(e instanceof RotatorError) && e instanceof Error && process.env['REGCRED_DEBUG'])
    process.stderr.write(`${scrub(e.stack ?? '')}\n`);
  return exitCodeForError(e);
}

async function main(): Promise<void> {
  let code: ExitCode = EXIT.ok;
  try {
    await buildProgram((c) => (code = c)).parseAsync(process.argv);
  } catch (e) {
    code = fail(e);
  }
  process.exitCode = code;
}

await main();
