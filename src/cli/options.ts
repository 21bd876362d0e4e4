import type { LogFormat, LogLevel } from '../base/logger.ts';

/** Options every command accepts. */
export interface GlobalOptions {
  config?: string | undefined;
  kubeconfig?: string | undefined;
  context?: string | undefined;
  namespace?: string[] | undefined;
  logLevel?: LogLevel | undefined;
  logFormat?: LogFormat | undefined;
  requestTimeout?: number | undefined;
}

/** The config file: --config, then $REGCRED_ROTATOR_CONFIG, then ./config.yaml. */
export function configPath(o: GlobalOptions): string {
  return o.config ?? process.env['REGCRED_ROTATOR_CONFIG'] ?? './config.yaml';
}
