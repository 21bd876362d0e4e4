import * as z from 'zod';
import { credentialsSchema } from '../credentials/shapes.ts';
import { CLUSTER_ID } from '../fleet/ledger.ts';
import { issuerConfigSchema } from '../issuers/registry.ts';
import { storeConfigSchema } from '../providers/registry.ts';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dnsLabel = (max: number, what: string) =>
  z
    .string()
    .max(max, `${what} must be at most ${max} characters`)
    .regex(DNS_LABEL, `${what} must be a DNS label (lower-case letters, digits and "-")`);

export const targetSchema = z.strictObject({
  name: dnsLabel(63, 'name'),
  store: z.string().min(1),
  registry: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
  credentials: credentialsSchema,
  /** Base name; swap-strategy names are `<secretName>-<10 hex>`, so at most 52 characters. */
  secretName: dnsLabel(52, 'secretName').optional(),
  namespaces: z
    .strictObject({
      names: z.array(dnsLabel(63, 'namespace name')).optional(),
      selector: z.string().optional(),
      exclude: z.array(z.string()).default([]),
    })
    .refine((n) => (n.names?.length ?? 0) > 0 || n.selector !== undefined, {
      error: 'give `names`, a `selector`, or both',
    }),
  serviceAccounts: z.array(z.string().min(1)).min(1).default(['default']),
  strategy: z.enum(['swap', 'in-place']).default('swap'),
  /** Mint the registry credential at the source (see docs/issuers/): the rotator issues, stores, rolls out, revokes. */
  issuer: issuerConfigSchema.optional(),
});

export const configSchema = z.strictObject({
  stores: z.record(
    z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'store names use letters, digits, . _ -'),
    storeConfigSchema,
  ),
  targets: z.array(targetSchema).min(1, 'at least one target is needed'),
  policy: z
    .strictObject({
      maxAgeDays: z.number().int().positive().default(90),
      warnAgeDays: z.number().int().positive().default(75),
    })
    .prefault({}),
  rotation: z
    .strictObject({
      verifyCredentials: z.boolean().default(true),
      retainSuperseded: z.string().default('24h'),
      waitForPods: z.boolean().default(true),
      refreshSuperseded: z.boolean().default(true),
      settleSeconds: z.number().int().min(0).max(600).default(30),
      concurrency: z.number().int().min(1).max(256).default(16),
      insecureRegistries: z.array(z.string()).default([]),
      emitEvents: z.boolean().default(true),
      healPods: z.boolean().default(false),
    })
    .prefault({}),
  schedule: z.string().default('0 3 * * *'),
  timeZone: z.string().optional(),
  metrics: z
    .strictObject({
      port: z.number().int().min(0).max(65535).default(9095),
      pushgateway: z.string().default(''),
      job: z.string().min(1).default('regcred-rotator'),
    })
    .prefault({}),
  /**
   * Several clusters, one registry credential: each cluster's rotator acknowledges in the target's store
   * once it has rolled a credential out, and the issuing cluster revokes the old credential only when every
   * registered cluster has (docs/fleet.md).
   */
  fleet: z
    .strictObject({
      /** This cluster's id in the ledger (REGCRED_ROTATOR_CLUSTER_ID wins); default: kube-system's UID. */
      clusterId: z.string().regex(CLUSTER_ID, 'clusterId must be a DNS label').optional(),
      /** The one cluster whose rotator mints and revokes; the others roll out what it stored and acknowledge. */
      issuingCluster: z.string().regex(CLUSTER_ID, 'issuingCluster must be a DNS label'),
      /** A cluster that has not rolled out the stored credential this long after it was stored is late. */
      ackDeadlineHours: z
        .number()
        .positive()
        .max(24 * 90)
        .default(24),
    })
    .optional(),
  lock: z
    .strictObject({
      // Default: the pod's own namespace in a pod, else regcred-rotator (config/load.ts).
      namespace: dnsLabel(63, 'lock.namespace').optional(),
      name: dnsLabel(63, 'lock.name').default('regcred-rotator'),
      leaseDurationSeconds: z.number().int().min(5).max(3600).default(60),
    })
    .prefault({}),
});

export type RawConfig = z.infer<typeof configSchema>;
export type TargetConfig = z.infer<typeof targetSchema>;
