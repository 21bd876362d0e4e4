/**
 * One copy of each repeated string. A list of 10,000 Secrets parses 10,000 copies of the same Secret
 * name, target label and revision annotations; the engine holds these objects while it works, so list
 * pages are reduced through here. Metadata only — never Secret data. Bounded: the table starts over once
 * it holds LIMIT strings (unique values such as uids are not passed through it), and long strings pass.
 */
const LIMIT = 4096;
const MAX_LENGTH = 256;
const table = new Map<string, string>();

export function intern(s: string): string {
  if (s.length > MAX_LENGTH) return s;
  const hit = table.get(s);
  if (hit !== undefined) return hit;
  if (table.size >= LIMIT) table.clear();
  table.set(s, s);
  return s;
}

/** A string record with its keys and values interned (keys are usually interned by the parser already). */
export function internRecord(r: Record<string, string> | undefined, skip?: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(r ?? {})) out[intern(k)] = k === skip ? v : intern(v);
  return out;
}
