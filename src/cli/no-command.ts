import type { Command } from 'commander';
import { EXIT, type ExitCode } from './exit-codes.ts';

/**
 * No command and no `--rotate-now`: the help, and nothing contacted or written. Bare, that is what was asked
 * for (exit 0). With options — the arguments a scheduler Deployment passed before scheduler mode became its
 * own command — it is a usage error (exit 2) that says where scheduler mode went, so an old manifest fails
 * visibly instead of idling.
 */
export function noCommand(cmd: Command): ExitCode {
  const given = Object.keys(cmd.opts()).filter((k) => cmd.getOptionValueSource(k) === 'cli');
  if (given.length === 0) {
    cmd.outputHelp();
    return EXIT.ok;
  }
  cmd.outputHelp({ error: true });
  process.stderr.write(
    `\n${cmd.name()}: no command given: use \`${cmd.name()} scheduler\` for scheduler mode, \`--rotate-now\` for one pass\n`,
  );
  return EXIT.usage;
}
