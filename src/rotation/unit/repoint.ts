/**
 * The new `imagePullSecrets` of a ServiceAccount: our older names become the desired one (at the position
 * of the first), further older names and duplicates of the desired name go, foreign entries stay exactly
 * where they are, and the desired name is appended when none of ours was there.
 */
export function repoint(
  current: readonly string[],
  ourOlder: ReadonlySet<string>,
  desired: string,
): string[] {
  const out: string[] = [];
  let placed = false;
  for (const name of current) {
    if (name === desired || ourOlder.has(name)) {
      if (!placed) {
        out.push(desired);
        placed = true;
      }
      continue;
    }
    out.push(name);
  }
  if (!placed) out.push(desired);
  return out;
}

export const sameList = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i]);
