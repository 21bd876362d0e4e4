import { EXIT, type ExitCode } from '../exit-codes.ts';
import type { GlobalOptions } from '../runtime.ts';

export async function doctor(_g: GlobalOptions, _output: 'table' | 'json'): Promise<ExitCode> {
  return EXIT.ok;
}
