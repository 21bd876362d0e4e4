import type { Command, Option } from 'commander';

import type { Shell } from './choices.ts';

/** What a value is completed from. */
type Values =
  | { kind: 'files' }
  | { kind: 'contexts' }
  | { kind: 'namespaces' }
  | { kind: 'words'; words: string[] }
  | { kind: 'any' };

interface Opt {
  short: string | undefined;
  long: string;
  description: string;
  /** Undefined for a flag. */
  value: Values | undefined;
}

interface Cmd {
  name: string;
  description: string;
  options: Opt[];
  /** Words its first argument takes (`completion bash`, `fleet id`). */
  args: string[];
}

/** Values of options that name things outside the program: files, kubeconfig contexts, namespaces. */
const VALUES_OF: Record<string, Values> = {
  '--config': { kind: 'files' },
  '--kubeconfig': { kind: 'files' },
  '--context': { kind: 'contexts' },
  '--namespace': { kind: 'namespaces' },
};

function opt(o: Option): Opt | undefined {
  if (o.hidden || !o.long) return undefined;
  const takes = o.required || o.optional;
  const value: Values | undefined = !takes
    ? undefined
    : (VALUES_OF[o.long] ?? (o.argChoices ? { kind: 'words', words: o.argChoices } : { kind: 'any' }));
  return { short: o.short, long: o.long, description: o.description, value };
}

const HELP: Opt = { short: '-h', long: '--help', description: 'show help', value: undefined };

/**
 * The program as completion sees it: the root's options, and each visible command's with the root's that
 * also apply after it (commander reads them anywhere; `--version` is the root's alone).
 */
function model(program: Command): { root: Opt[]; commands: Cmd[] } {
  const own = (c: Command): Opt[] => [...c.options.flatMap((o) => opt(o) ?? []), HELP];
  const root = own(program);
  const commands = program.commands
    .filter((c) => !(c as Command & { _hidden?: boolean })._hidden)
    .map((c) => {
      const mine = own(c);
      const taken = new Set(mine.map((o) => o.long));
      const inherited = root.filter((o) => !taken.has(o.long) && o.long !== '--version');
      return {
        name: c.name(),
        description: c.description(),
        options: [...mine, ...inherited],
        // A command with subcommands (`fleet id|forget`) takes their names as its first word.
        args:
          c.commands.length > 0
            ? c.commands.map((x) => x.name())
            : c.registeredArguments.flatMap((a) => a.argChoices ?? []),
      };
    });
  return { root, commands };
}

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
const flags = (o: Opt): string[] => (o.short ? [o.short, o.long] : [o.long]);

const KUBECTL_CONTEXTS = 'kubectl config get-contexts -o name 2>/dev/null';
const KUBECTL_NAMESPACES =
  "kubectl get namespaces -o name --request-timeout=2s 2>/dev/null | sed 's,^namespace/,,'";

function bashValues(v: Values): string {
  switch (v.kind) {
    case 'files':
      return 'COMPREPLY=($(compgen -f -- "$cur"))';
    case 'contexts':
      return `COMPREPLY=($(compgen -W "$(${KUBECTL_CONTEXTS})" -- "$cur"))`;
    case 'namespaces':
      return `COMPREPLY=($(compgen -W "$(${KUBECTL_NAMESPACES})" -- "$cur"))`;
    case 'words':
      return `COMPREPLY=($(compgen -W ${q(v.words.join(' '))} -- "$cur"))`;
    case 'any':
      return 'COMPREPLY=()';
  }
}

function bash(program: Command): string {
  const { root, commands } = model(program);
  const valueCases: string[] = [];
  for (const c of commands)
    for (const o of c.options)
      if (o.value)
        valueCases.push(
          `    ${flags(o)
            .map((f) => `${c.name}:${f}`)
            .join('|')}) ${bashValues(o.value)}; return ;;`,
        );
  for (const o of root)
    if (o.value)
      valueCases.push(
        `    ${flags(o)
          .map((f) => `:${f}`)
          .join('|')}) ${bashValues(o.value)}; return ;;`,
      );

  // A word starting with "-" completes to options; any other to the commands, or the command's arguments.
  const cmdCases = [
    `    :-*) words=${q(root.flatMap(flags).join(' '))} ;;`,
    `    :*) words=${q(commands.map((c) => c.name).join(' '))} ;;`,
    ...commands.flatMap((c) => [
      `    ${c.name}:-*) words=${q(c.options.flatMap(flags).join(' '))} ;;`,
      `    ${c.name}:*) words=${q(c.args.join(' '))} ;;`,
    ]),
  ];
  return `# bash completion for ${program.name()}: source <(${program.name()} completion bash)
_regcred_rotator() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]} cmd= words i
  for ((i = 1; i < COMP_CWORD; i++)); do
    case \${COMP_WORDS[i]} in
      ${commands.map((c) => c.name).join('|')}) cmd=\${COMP_WORDS[i]}; break ;;
    esac
  done
  case $cmd:$prev in
${valueCases.join('\n')}
  esac
  case $cmd:$cur in
${cmdCases.join('\n')}
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _regcred_rotator ${program.name()}
`;
}

/** Text inside a zsh `_arguments` spec: brackets and colons would end its fields. */
const zq = (s: string): string => s.replace(/\\/g, '\\\\').replace(/([[\]:'])/g, '\\$1');

function zshValues(v: Values): string {
  switch (v.kind) {
    case 'files':
      return ':file:_files';
    case 'contexts':
      return `:context:(\${(f)"$(${KUBECTL_CONTEXTS})"})`;
    case 'namespaces':
      return `:namespace:(\${(f)"$(${KUBECTL_NAMESPACES})"})`;
    case 'words':
      return `:value:(${v.words.join(' ')})`;
    case 'any':
      return ':value: ';
  }
}

function zshSpecs(options: Opt[]): string[] {
  return options.flatMap((o) =>
    flags(o).map((f) => q(`${f}[${zq(o.description)}]${o.value ? zshValues(o.value) : ''}`)),
  );
}

function zsh(program: Command): string {
  const { root, commands } = model(program);
  const cmdList = commands.map((c) => q(`${c.name}:${zq(c.description)}`));
  const perCommand = commands.map(
    (c) =>
      `        ${c.name}) _arguments -s ${[...zshSpecs(c.options), ...zshSpecs(root), ...(c.args.length ? [q(`1:${c.name}:(${c.args.join(' ')})`)] : [])].join(' ')} ;;`,
  );
  return `#compdef ${program.name()}
# zsh completion for ${program.name()}: source <(${program.name()} completion zsh), after compinit
_regcred_rotator() {
  local curcontext=$curcontext state line
  local -a commands=(${cmdList.join(' ')})
  _arguments -C -s ${zshSpecs(root).join(' ')} '1: :->command' '*:: :->args'
  case $state in
    command) _describe command commands ;;
    args)
      case $line[1] in
${perCommand.join('\n')}
      esac
      ;;
  esac
}
compdef _regcred_rotator ${program.name()}
`;
}

function fishValues(v: Values): string {
  switch (v.kind) {
    case 'files':
      return ' -r -F';
    case 'contexts':
      return ` -x -a ${q(`(${KUBECTL_CONTEXTS})`)}`;
    case 'namespaces':
      return ` -x -a ${q(`(${KUBECTL_NAMESPACES})`)}`;
    case 'words':
      return ` -x -a ${q(v.words.join(' '))}`;
    case 'any':
      return ' -x';
  }
}

function fish(program: Command): string {
  const { root, commands } = model(program);
  const p = program.name();
  const names = commands.map((c) => c.name).join(' ');
  const line = (cond: string, o: Opt) =>
    `complete -c ${p}${cond}${o.short ? ` -s ${o.short.slice(1)}` : ''} -l ${o.long.slice(2)} -d ${q(o.description)}${o.value ? fishValues(o.value) : ''}`;
  const out = [`# fish completion for ${p}: ${p} completion fish | source`, `complete -c ${p} -f`];
  const before = ` -n "not __fish_seen_subcommand_from ${names}"`;
  for (const o of root) out.push(line(before, o));
  for (const c of commands) {
    out.push(
      `complete -c ${p} -n "not __fish_seen_subcommand_from ${names}" -a ${c.name} -d ${q(c.description)}`,
    );
    const cond = ` -n "__fish_seen_subcommand_from ${c.name}"`;
    for (const o of c.options) out.push(line(cond, o));
    if (c.args.length) out.push(`complete -c ${p}${cond} -a ${q(c.args.join(' '))}`);
  }
  return `${out.join('\n')}\n`;
}

/** The completion script for a shell, generated from the program's commands and options. */
export function completionScript(program: Command, shell: Shell): string {
  return { bash, zsh, fish }[shell](program);
}
