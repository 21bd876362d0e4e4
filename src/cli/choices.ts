import { Option } from 'commander';

// What main.ts declares, apart from the modules that act on it: --help and --version load none of those.

export const OUTPUT_FORMATS = ['table', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** `-o, --output table|json|yaml` (default `table`): every read command takes it. */
export const outputOption = (): Option =>
  new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('table');

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];
