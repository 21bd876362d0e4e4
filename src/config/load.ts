import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type * as z from 'zod';
import { ConfigError, type ConfigProblem } from '../errors.ts';
import { parseSchedule } from './schedule.ts';
import { parseDuration } from './duration.ts';
import { globToRegExp } from './glob.ts';
import { podNamespace } from '../kube/in-cluster.ts';
import { checkRules, type TargetParts } from './rules.ts';
import { configSchema, type RawConfig } from './schema.ts';
import { CLUSTER_ID } from '../fleet/ledger.ts';
import type { Config, Target } from './types.ts';

/** `targets[1].store` from ['targets', 1, 'store']. */
export function dottedPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out;
}

function zodProblems(error: z.ZodError): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const issue of error.issues) {
    // A credentials shape is chosen by the keys given; `shape` is our tag, not something the user wrote.
    const tagged = issue.code === 'invalid_union' && issue.path.at(-1) === 'shape';
    const path = dottedPath(tagged ? issue.path.slice(0, -1) : issue.path);
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) out.push({ path: path ? `${path}.${k}` : k, message: 'unknown key' });
    } else if (issue.code === 'invalid_type' && issue.input === undefined) {
      out.push({ path, message: 'required' });
    } else {
      out.push({ path, message: issue.message });
    }
  }
  return out;
}

/** Validates an already-parsed document: schema, then cross-field rules. Throws ConfigError with every problem. */
export function validateConfig(doc: unknown, file: string): Config {
  if (doc !== null && doc !== undefined && (typeof doc !== 'object' || Array.isArray(doc))) {
    throw new ConfigError(
      [
        {
          path: '',
          message:
            'the config must be a YAML mapping with `stores:` and `targets:` (see config.example.yaml)',
        },
      ],
      file,
    );
  }
  const parsed = configSchema.safeParse(doc ?? {});
  if (!parsed.success) throw new ConfigError(zodProblems(parsed.error), file);
  const raw: RawConfig = parsed.data;
  const { problems, parts } = checkRules(raw);
  if (problems.length > 0) throw new ConfigError(problems, file);
  return normalise(raw, parts, file);
}

function normalise(raw: RawConfig, parts: TargetParts[], file: string): Config {
  const targets: Target[] = raw.targets.map((t, i) => ({
    ...t,
    ...(parts[i] as TargetParts),
    excludeRes: t.namespaces.exclude.map(globToRegExp),
    issuer: t.issuer && {
      ...t.issuer,
      rotateAfterDays: t.issuer.rotateAfterDays ?? defaultRotateAfterDays(raw.policy.maxAgeDays),
    },
  }));
  const sched = parseSchedule(raw.schedule);
  if ('error' in sched) throw new ConfigError([{ path: 'schedule', message: sched.error }], file);
  return {
    file,
    baseDir: dirname(resolve(file)),
    stores: raw.stores,
    targets,
    policy: raw.policy,
    rotation: { ...raw.rotation, retainSupersededMs: parseDuration(raw.rotation.retainSuperseded) ?? 0 },
    schedule: { ...sched, text: raw.schedule },
    timeZone: raw.timeZone,
    metrics: raw.metrics,
    fleet: raw.fleet && { ...raw.fleet, clusterId: clusterIdFromEnv(file) ?? raw.fleet.clusterId },
    lock: { ...raw.lock, namespace: raw.lock.namespace ?? podNamespace() ?? 'regcred-rotator' },
  };
}

/** The environment variable a deploy tool sets per cluster while every cluster shares one config file. */
export const CLUSTER_ID_ENV = 'REGCRED_ROTATOR_CLUSTER_ID';

/** `fleet.clusterId` from the environment, when set: it wins over the file's (docs/fleet.md). */
function clusterIdFromEnv(file: string): string | undefined {
  const v = process.env[CLUSTER_ID_ENV];
  if (v === undefined || v === '') return undefined;
  if (!CLUSTER_ID.test(v))
    throw new ConfigError(
      [
        {
          path: 'fleet.clusterId',
          message: `${CLUSTER_ID_ENV} "${v}" must be a DNS label (lower-case letters, digits and "-", at most 63)`,
        },
      ],
      file,
    );
  return v;
}

/** Two thirds of the maximum age: a rotation that keeps failing is a warning long before a violation. */
export const defaultRotateAfterDays = (maxAgeDays: number): number =>
  Math.max(1, Math.floor((maxAgeDays * 2) / 3));

/** Reads, parses and validates a config file. Nothing is contacted; any problem throws a ConfigError. */
export function loadConfig(file: string): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(
      [
        {
          path: '',
          message:
            code === 'ENOENT'
              ? 'no such file (use --config or REGCRED_ROTATOR_CONFIG)'
              : `cannot read (${code ?? 'error'})`,
        },
      ],
      file,
    );
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => ({
        path: e.linePos ? `line ${e.linePos[0].line}` : '',
        message: `YAML: ${e.message.split('\n')[0] ?? e.code}`,
      })),
      file,
    );
  }
  return validateConfig(doc.toJS(), file);
}
