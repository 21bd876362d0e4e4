import type { Command } from 'commander';
import { parseDuration } from '../config/duration.ts';
import { RotatorError } from '../errors.ts';
import { DEFAULT_TIMING, type CertTiming } from './cert-plan.ts';
import { DEFAULT_POLICY } from './policy.ts';

/** The admission side's command-line options, as commander hands them over. */
export interface AdmissionFlags {
  webhook?: string | undefined;
  webhookConfiguration?: string | undefined;
  webhookHosts?: string[] | undefined;
  webhookTlsSecret?: string | undefined;
  webhookCertDir?: string | undefined;
  webhookCertValidity?: string | undefined;
  admissionPolicy?: string | boolean | undefined;
}

export interface WebhookSettings {
  host: string | undefined;
  port: number;
  configuration: string;
  hosts: string[];
  tlsSecret: string;
  /** Certificates from files kept current by someone else (cert-manager), instead of our own. */
  certDir: string | undefined;
  timing: CertTiming;
}

export interface AdmissionSettings {
  webhook: WebhookSettings | undefined;
  /** The MutatingAdmissionPolicy whose params and bindings the scheduler keeps. */
  policy: string | undefined;
}

const list = (v: string, prev: string[] | undefined) => [
  ...(prev ?? []),
  ...v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
];

/** Registers the options on the program (scheduler mode reads them; see docs/admission.md). */
export function addAdmissionOptions(program: Command): Command {
  return program
    .option(
      '--webhook <[host:]port>',
      'scheduler mode: serve the mutating admission webhook (HTTPS, /mutate)',
    )
    .option(
      '--webhook-configuration <name>',
      'the MutatingWebhookConfiguration whose caBundle the rotator keeps',
      'regcred-rotator',
    )
    .option(
      '--webhook-hosts <names>',
      "names in the webhook's certificate (default: regcred-rotator-webhook.<namespace>.svc)",
      list,
    )
    .option(
      '--webhook-tls-secret <name>',
      "the Secret holding the webhook's own CA and certificate",
      'regcred-rotator-webhook-tls',
    )
    .option(
      '--webhook-cert-dir <dir>',
      'serve tls.crt/tls.key from this directory (cert-manager) instead of a certificate of its own',
    )
    .option(
      '--webhook-cert-validity <duration>',
      "lifetime of the webhook's own certificate (renewed with a third left)",
      '90d',
    )
    .option(
      '--admission-policy [name]',
      'scheduler mode: keep the MutatingAdmissionPolicy params and bindings current',
    );
}

/** Checked settings from the flags; `namespace` is the rotator's own (its run Lease's). */
export function admissionSettings(f: AdmissionFlags, namespace: string): AdmissionSettings {
  const policy =
    f.admissionPolicy === undefined || f.admissionPolicy === false
      ? undefined
      : f.admissionPolicy === true
        ? DEFAULT_POLICY
        : f.admissionPolicy;
  if (f.webhook === undefined) return { webhook: undefined, policy };
  const m = /^(?:(.*):)?(\d+)$/.exec(f.webhook);
  const port = Number(m?.[2]);
  if (!m || port > 65535) throw new RotatorError('USAGE', `--webhook: "${f.webhook}" is not [host:]port`);
  const validityMs = parseDuration(f.webhookCertValidity ?? '90d');
  if (validityMs === undefined || validityMs < 30_000)
    throw new RotatorError('USAGE', '--webhook-cert-validity: a duration of at least 30s (e.g. 90d)');
  return {
    policy,
    webhook: {
      host: m[1] || undefined,
      port,
      configuration: f.webhookConfiguration ?? 'regcred-rotator',
      hosts: f.webhookHosts?.length ? f.webhookHosts : [`regcred-rotator-webhook.${namespace}.svc`],
      tlsSecret: f.webhookTlsSecret ?? 'regcred-rotator-webhook-tls',
      certDir: f.webhookCertDir,
      timing: {
        ...DEFAULT_TIMING,
        validityMs,
        // A short lifetime (tests) gets proportionally short waits.
        graceMs: Math.min(DEFAULT_TIMING.graceMs, validityMs / 12),
        dropAfterMs: Math.min(DEFAULT_TIMING.dropAfterMs, validityMs / 6),
      },
    },
  };
}
