import { stringify } from 'yaml';
import type { OutputFormat } from './choices.ts';

export { outputOption, type OutputFormat } from './choices.ts';

/**
 * A read command's result as JSON or YAML on stdout: the same document either way (dates as ISO strings,
 * absent fields left out), so a script can switch formats without changing what it reads.
 */
export function writeDocument(format: Exclude<OutputFormat, 'table'>, data: unknown): void {
  const plain: unknown = JSON.parse(JSON.stringify(data));
  process.stdout.write(format === 'json' ? `${JSON.stringify(plain, null, 2)}\n` : stringify(plain));
}

/** A read command's result: `table()` (text, printed as it is) or the document as JSON or YAML. */
export function printOutput(format: OutputFormat, data: unknown, table: () => string): void {
  if (format === 'table') process.stdout.write(table());
  else writeDocument(format, data);
}
