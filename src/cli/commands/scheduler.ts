import { EXIT, type ExitCode } from '../exit-codes.ts';
import type { GlobalOptions } from '../runtime.ts';

export async function runScheduler(_g: GlobalOptions): Promise<ExitCode> {
  return EXIT.ok;
}
