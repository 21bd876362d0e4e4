/** Namespace globs of `exclude`: `*` (any run) and `?` (one character) over DNS-label characters. */
const GLOB_RE = /^[a-z0-9*?][a-z0-9.*?-]*$/;

export function globError(glob: string): string | undefined {
  if (glob === '') return 'glob is empty';
  if (!GLOB_RE.test(glob))
    return `"${glob}" is not a namespace glob (allowed: a-z 0-9 - . and the wildcards * ?)`;
  return undefined;
}

export function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\-]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}
