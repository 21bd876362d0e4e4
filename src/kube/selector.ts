/**
 * Kubernetes label selectors (the `-l` syntax): parsed here so the config is checked before anything is
 * contacted, and matched locally so one namespace list serves every target.
 */
export type Requirement =
  | { key: string; op: 'exists' | 'notexists' }
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'gt' | 'lt'; value: number };

const NAME = '[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?';
const KEY_RE = new RegExp(`^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?${NAME}$`);
const VALUE_RE = new RegExp(`^(${NAME})?$`);

function checkKey(key: string): void {
  const prefix = key.includes('/') ? key.slice(0, key.indexOf('/')) : '';
  if (!KEY_RE.test(key) || prefix.length > 253) throw new Error(`"${key}" is not a valid label key`);
}
function checkValue(v: string): void {
  if (!VALUE_RE.test(v) || v.length > 63) throw new Error(`"${v}" is not a valid label value`);
}

/** Splits on commas that are not inside parentheses. */
function splitTop(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (depth < 0) throw new Error('unbalanced ")"');
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (depth !== 0) throw new Error('unbalanced "("');
  out.push(cur);
  return out;
}

/** Parses a selector; throws an Error whose message says what is wrong. An empty selector matches all. */
export function parseSelector(text: string): Requirement[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  const reqs: Requirement[] = [];
  for (const raw of splitTop(trimmed)) {
    const part = raw.trim();
    if (part === '') throw new Error('empty requirement (stray comma?)');
    let m: RegExpMatchArray | null;
    if ((m = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(part))) {
      const key = m[1] ?? '';
      checkKey(key);
      const values = (m[3] ?? '').split(',').map((v) => v.trim());
      if (values.length === 1 && values[0] === '') throw new Error(`"${part}": empty value list`);
      values.forEach(checkValue);
      reqs.push({ key, op: m[2] === 'in' ? 'in' : 'notin', values });
    } else if ((m = /^([^=!<>\s]+)\s*(==|=|!=)\s*([^=!<>\s]*)$/.exec(part))) {
      const key = m[1] ?? '';
      const value = m[3] ?? '';
      checkKey(key);
      checkValue(value);
      reqs.push({ key, op: m[2] === '!=' ? 'notin' : 'in', values: [value] });
    } else if ((m = /^([^=!<>\s]+)\s*([<>])\s*(-?\d+)$/.exec(part))) {
      checkKey(m[1] ?? '');
      reqs.push({ key: m[1] ?? '', op: m[2] === '>' ? 'gt' : 'lt', value: Number(m[3]) });
    } else if ((m = /^!\s*(\S+)$/.exec(part))) {
      checkKey(m[1] ?? '');
      reqs.push({ key: m[1] ?? '', op: 'notexists' });
    } else if (/^\S+$/.test(part)) {
      checkKey(part);
      reqs.push({ key: part, op: 'exists' });
    } else {
      throw new Error(`cannot parse "${part}"`);
    }
  }
  return reqs;
}

export function matchesSelector(
  reqs: readonly Requirement[],
  labels: Readonly<Record<string, string>>,
): boolean {
  for (const r of reqs) {
    const has = Object.hasOwn(labels, r.key);
    const v = labels[r.key];
    switch (r.op) {
      case 'exists':
        if (!has) return false;
        break;
      case 'notexists':
        if (has) return false;
        break;
      case 'in':
        if (v === undefined || !r.values.includes(v)) return false;
        break;
      case 'notin':
        if (v !== undefined && r.values.includes(v)) return false;
        break;
      case 'gt':
      case 'lt': {
        const n = Number(v);
        if (v === undefined || !/^-?\d+$/.test(v)) return false;
        if (r.op === 'gt' ? !(n > r.value) : !(n < r.value)) return false;
        break;
      }
    }
  }
  return true;
}
