import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type * as z from 'zod';
import { ConfigError, type ConfigProblem } from '../errors.ts';
import { parseSchedule } from './schedule.ts';
import { parseDuration } from './duration.ts';
import { globToRegExp } from './glob.ts';
import { podNamespace } from '../kube/in-cluster.ts';
import { closest, explainIssues } from './explain.ts';
import { checkRules, type RuleInput, type TargetParts } from './rules.ts';
import { configSchema, targetSchema, type RawConfig } from './schema.ts';
import { CLUSTER_ID } from '../fleet/ledger.ts';
import type { Config, Target } from './types.ts';

export { dottedPath } from './explain.ts';

type Shape = typeof configSchema.shape;

const isMapping = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Parses the document a piece at a time — each section, each store, each target — so that one bad piece
 * neither hides the problems of the others nor keeps the cross-field rules from running on what is sound.
 */
class Sections {
  readonly problems: ConfigProblem[] = [];
  readonly #doc: Record<string, unknown>;

  constructor(doc: Record<string, unknown>) {
    this.#doc = doc;
  }

  /** One schema over one value; its problems are recorded under `at`. */
  parse<S extends z.ZodType>(schema: S, value: unknown, at: PropertyKey[]): z.output<S> | undefined {
    const r = schema.safeParse(value, { reportInput: true });
    if (r.success) return r.data;
    this.problems.push(...explainIssues(r.error.issues, schema, value, at));
    return undefined;
  }

  /** A top-level section: its schema, over the document's value of that key. */
  section<S extends z.ZodType>(k: keyof Shape, schema: S): z.output<S> | undefined {
    return this.parse(schema, this.#doc[k], [k]);
  }

  unknownKeys(): void {
    const known = Object.keys(configSchema.shape);
    for (const k of Object.keys(this.#doc)) {
      if (known.includes(k)) continue;
      const guess = closest(k, known);
      this.problems.push({
        path: '',
        message: `unknown key \`${k}\`${guess ? `; did you mean \`${guess}\`?` : ''}`,
      });
    }
  }

  /** Each store on its own: a name whose store is invalid maps to undefined (it exists, for the rules). */
  stores(): RuleInput['stores'] | undefined {
    const raw = this.#doc['stores'];
    if (!isMapping(raw)) return this.section('stores', configSchema.shape.stores);
    const out: RuleInput['stores'] = {};
    for (const [name, value] of Object.entries(raw))
      out[name] = this.parse(configSchema.shape.stores, { [name]: value }, ['stores'])?.[name];
    return out;
  }

  /** Each target on its own: an invalid one is undefined at its index (paths keep their numbers). */
  targets(): RuleInput['targets'] | undefined {
    const raw = this.#doc['targets'];
    if (!Array.isArray(raw) || raw.length === 0) return this.section('targets', configSchema.shape.targets);
    return raw.map((t: unknown, i) => this.parse(targetSchema, t, ['targets', i]));
  }
}

/**
 * Validates an already-parsed document: the schema and the cross-field rules together, so every problem is
 * reported at once. Throws a ConfigError with all of them.
 */
export function validateConfig(doc: unknown, file: string): Config {
  if (doc !== null && doc !== undefined && !isMapping(doc)) {
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
  const p = new Sections(doc ?? {});
  const sh = configSchema.shape;
  p.unknownKeys();
  const input: RuleInput = {
    stores: p.stores(),
    targets: p.targets(),
    policy: p.section('policy', sh.policy),
    rotation: p.section('rotation', sh.rotation),
    schedule: p.section('schedule', sh.schedule),
    timeZone: p.section('timeZone', sh.timeZone),
    metrics: p.section('metrics', sh.metrics),
    fleet: p.section('fleet', sh.fleet),
    lock: p.section('lock', sh.lock),
  };
  const { problems, parts } = checkRules(input);
  const all = [...p.problems, ...problems];
  const raw = complete(input);
  if (all.length > 0 || !raw) {
    // A sound metrics section still says where a failed run is reported (cli/run-end.ts).
    const m = all.some((x) => x.path.startsWith('metrics')) ? undefined : input.metrics;
    throw new ConfigError(all, file, m && { pushgateway: m.pushgateway, job: m.job });
  }
  return normalise(raw, parts, file);
}

/** The whole config, once every piece parsed. */
function complete(c: RuleInput): RawConfig | undefined {
  const { stores, targets, policy, rotation, schedule, metrics, lock } = c;
  if (!stores || !targets || !policy || !rotation || schedule === undefined || !metrics || !lock)
    return undefined;
  const s: RawConfig['stores'] = {};
  for (const [k, v] of Object.entries(stores)) {
    if (!v) return undefined;
    s[k] = v;
  }
  const t = targets.filter((x) => x !== undefined);
  if (t.length !== targets.length) return undefined;
  return {
    stores: s,
    targets: t,
    policy,
    rotation,
    schedule,
    timeZone: c.timeZone,
    metrics,
    fleet: c.fleet,
    lock,
  };
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
