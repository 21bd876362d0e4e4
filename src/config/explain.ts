import type * as z from 'zod';
import { closest } from '../base/closest.ts';
import type { ConfigProblem } from '../errors.ts';
import { PAIRED } from '../credentials/shapes.ts';

export { closest } from '../base/closest.ts';

/** The parts of a zod schema's definition the walk reads (zod 4's `_zod.def`). */
interface Def {
  type: string;
  shape?: Record<string, Schema>;
  innerType?: Schema;
  element?: Schema;
  valueType?: Schema;
  options?: Schema[];
  out?: Schema;
  values?: unknown[];
}
interface Schema {
  _zod: { def: Def };
  description?: string | undefined;
}

const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'catch', 'readonly', 'nonoptional']);

/** Unwraps defaults and optionals (and a preprocess step), keeping the first description met on the way. */
function unwrap(s: Schema): { s: Schema; description: string | undefined } {
  let description = s.description;
  for (;;) {
    const d = s._zod.def;
    const inner = WRAPPERS.has(d.type) ? d.innerType : d.type === 'pipe' ? d.out : undefined;
    if (!inner) return { s, description };
    s = inner;
    description ??= s.description;
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The member of a union the document meant: the one whose literal field (`type`, `method`, `shape`) has the
 * document's value, else the one knowing most of the document's keys.
 */
function pickMember(options: Schema[], value: unknown): Schema | undefined {
  let best: Schema | undefined;
  let bestScore = -1;
  for (const o of options) {
    const shape = unwrap(o).s._zod.def.shape;
    if (!shape) continue;
    let score = 0;
    if (isRecord(value))
      for (const [k, v] of Object.entries(value)) {
        const field = shape[k];
        if (!field) continue;
        score += 1;
        if (unwrap(field).s._zod.def.values?.includes(v)) score += 100;
      }
    if (score > bestScore) [best, bestScore] = [o, score];
  }
  return best;
}

/** The schema at `path` of the document (unions resolved by the document's values), and its description. */
function schemaAt(
  root: Schema,
  path: readonly PropertyKey[],
  doc: unknown,
): { s: Schema; description: string | undefined } | undefined {
  let cur = unwrap(root);
  let value = doc;
  for (let i = 0; ;) {
    const d = cur.s._zod.def;
    if (d.type === 'union' && d.options) {
      const m = pickMember(d.options, value);
      if (!m) return undefined;
      cur = unwrap(m);
      continue;
    }
    if (i === path.length) return cur;
    const key = path[i];
    const next =
      d.type === 'object'
        ? d.shape?.[String(key)]
        : d.type === 'array'
          ? d.element
          : d.type === 'record'
            ? d.valueType
            : undefined;
    if (!next) return undefined;
    value =
      isRecord(value) || Array.isArray(value)
        ? (value as Record<PropertyKey, unknown>)[key as string]
        : undefined;
    cur = unwrap(next);
    i++;
  }
}

/** A YAML value's kind, as a reader of the config would name it. */
export function kindOf(v: unknown): string {
  if (v === null) return 'an empty value';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'number') return 'a number';
  if (typeof v === 'boolean') return 'true/false';
  return `a ${typeof v}`;
}

const EXPECTED: Record<string, string> = {
  array: 'a list',
  object: 'a mapping',
  record: 'a mapping',
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
};

/** `targets[1].store` from ['targets', 1, 'store']. */
export function dottedPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out;
}

/** A zod issue with the fields this reads (zod's own union of issue types is wider). */
type Issue = z.core.$ZodIssue;

/** The two or more types a union accepts, when each member failed on the type alone. */
function unionTypes(issue: Issue): string[] | undefined {
  if (issue.code !== 'invalid_union') return undefined;
  const firsts = issue.errors.map((e) => e[0]);
  if (firsts.length < 2 || !firsts.every((f) => f?.code === 'invalid_type' && f.path.length === 0))
    return undefined;
  return firsts.map((f) => {
    const want = (f as { expected: string }).expected;
    return EXPECTED[want] ?? want;
  });
}

/**
 * Zod's issues as config problems an operator can act on: a missing key is `required`, a wrong type says what
 * was expected and what was given, an unknown key suggests the known key it most likely meant.
 * `root` and `doc` are the schema and document the issues' paths start from; `at` prefixes those paths.
 */
export function explainIssues(
  issues: readonly Issue[],
  root: Schema,
  doc: unknown,
  at: readonly PropertyKey[] = [],
): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const issue of issues) {
    // A credentials shape is chosen by the keys given; `shape` is our tag, not something the user wrote.
    const tagged = issue.code === 'invalid_union' && issue.path.at(-1) === 'shape';
    const rel = tagged ? issue.path.slice(0, -1) : issue.path;
    const path = dottedPath([...at, ...rel]);
    const input = (issue as { input?: unknown }).input;
    if (issue.code === 'unrecognized_keys') {
      const known = Object.keys(schemaAt(root, rel, doc)?.s._zod.def.shape ?? {});
      for (const k of issue.keys) {
        const guess = closest(
          k,
          known.filter((x) => !issue.keys.includes(x)),
        );
        out.push({ path, message: `unknown key \`${k}\`${guess ? `; did you mean \`${guess}\`?` : ''}` });
      }
    } else if (issue.code === 'invalid_type' && input === undefined && issue.message !== PAIRED) {
      // Half of the credentials pair is named as such: the cause is the other half given alone.
      out.push({ path, message: 'required' });
    } else if (issue.code === 'invalid_type' && /^Invalid input/.test(issue.message)) {
      const wanted = schemaAt(root, rel, doc)?.description ?? EXPECTED[issue.expected] ?? issue.expected;
      out.push({ path, message: `expected ${wanted}, got ${kindOf(input)}` });
    } else if (issue.code === 'invalid_value' && /^Invalid (option|input)/.test(issue.message)) {
      const v = issue.values.map(String);
      const wanted = v.length === 2 ? `${v[0]} or ${v[1]}` : `one of ${v.join(', ')}`;
      out.push({
        path,
        message: `expected ${wanted}, got ${typeof input === 'string' ? `"${input}"` : kindOf(input)}`,
      });
    } else {
      const types = unionTypes(issue);
      out.push({
        path,
        message: types ? `expected ${types.join(' or ')}, got ${kindOf(input)}` : issue.message,
      });
    }
  }
  return out;
}
