// `npm run lint` runs this: every reference in the Markdown docs must resolve inside the repository.
// Why: docs rot silently when files move (src/ is being restructured) and readers outside this project
// cannot follow references to documents that only existed beside it. Checked, in README.md, docs/**,
// bench/README.md and deploy/**: relative Markdown links (and their #fragments, against the target's
// headings), repository paths in code spans and code blocks (src/…, test/…, deploy/…, docs/…, bench/…,
// scripts/…), and no reference to outside documents. One line per problem; exit 1 if there is any.
//   node scripts/check-docs.ts [ROOT]   (ROOT defaults to the repository; the unit test passes a fixture)
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, posix, relative, resolve, sep } from 'node:path';

export interface Problem {
  file: string;
  line: number;
  message: string;
}

/**
 * Files written on branches that are merged separately. A reference to one is accepted while it does not
 * exist; once it does, the entry must go (the check says so), so this list cannot outlive its reason.
 */
export const ARRIVING: ReadonlySet<string> = new Set<string>();

const PATH_PREFIX = /^(?:\.\/)?(src|test|deploy|docs|bench|scripts)\//;

/** References to documents that are not in the repository (a tracker, facts lists, a spec beside it). */
const OUTSIDE: readonly [RegExp, string][] = [
  [/\b(?:AKV|KUBE|ACR|HARBOR)-FACTS\b/, 'a facts file outside the repository'],
  [/\bSPEC(?:\.md)?\b|§\s*\d/, 'a specification outside the repository'],
  [/(?<![\w/.-])F\d{1,2}(?![\w-])/, 'a numbered fact of a list outside the repository'],
  [/\bissues? #?\d+\b|\bissues show\b/i, 'an issue of a tracker outside the repository'],
  [/\.\.\/shared\b|\/work\/|\b(?:DOC-CHECKS|STYLE|STACK)\.md\b/, 'a file outside the repository'],
];

/** The Markdown files to check, relative to root, in a stable order. */
export function docFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    const abs = join(root, dir);
    if (!existsSync(abs)) return;
    for (const e of readdirSync(abs, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const rel = posix.join(dir, e.name);
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith('.md')) out.push(rel);
    }
  };
  for (const f of ['README.md', 'bench/README.md']) if (existsSync(join(root, f))) out.push(f);
  walk('docs');
  walk('deploy');
  return out;
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
export function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const { text, code } of lines(markdown)) {
    if (code) continue;
    const m = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(text);
    if (!m) {
      for (const a of text.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) out.add(a[1] ?? '');
      continue;
    }
    const base = (m[1] ?? '')
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

interface Line {
  n: number;
  text: string;
  /** Inside a fenced code block. */
  code: boolean;
}

/** The lines of a Markdown text outside fenced code blocks (headings, prose) and inside (code). */
function lines(markdown: string): Line[] {
  const out: Line[] = [];
  let fence: string | undefined;
  markdown.split('\n').forEach((text, i) => {
    const f = /^ {0,3}(`{3,}|~{3,})/.exec(text)?.[1];
    if (f !== undefined && (fence === undefined || f.startsWith(fence)))
      fence = fence === undefined ? f : undefined;
    else out.push({ n: i + 1, text, code: fence !== undefined });
  });
  return out;
}

/**
 * A relative path to a source or doc file that names none of the checked folders (`rotation/plan.ts`):
 * it must be written from the repository root, so it is checked too. Built output and absolute or home
 * paths are not the repository's.
 */
const FILE_LIKE =
  /^(?![/~.]|dist\/|node_modules\/)[\w.-]+(?:\/[\w.<>*?{},…-]+)+\.(?:ts|sh|ya?ml|json|md|go|tpl)$/;

/** Repository paths in a piece of code: tokens that start with one of the checked folders, or look like a file. */
function pathsIn(code: string): string[] {
  const out: string[] = [];
  for (const raw of code.split(/[\s;|]+/)) {
    const token = raw
      .replace(/^.*=/, '')
      .replace(/^[("'[]+/, '')
      .replace(/[)"'\].:,]+$/, '');
    if (PATH_PREFIX.test(token)) out.push(token.replace(/^\.\//, ''));
    else if (FILE_LIKE.test(token.replace(/[#:].*$/, ''))) out.push(token);
  }
  return out;
}

class Checker {
  readonly problems: Problem[] = [];
  readonly #root: string;
  readonly #anchors = new Map<string, Set<string>>();
  #files: string[] | undefined;
  readonly #arriving: ReadonlySet<string>;

  constructor(root: string, arriving: ReadonlySet<string>) {
    this.#root = resolve(root);
    this.#arriving = arriving;
  }

  #problem(file: string, line: number, message: string): void {
    this.problems.push({ file, line, message });
  }

  /** Every file under root (for globs), relative, with '/' separators. */
  #allFiles(): string[] {
    if (this.#files) return this.#files;
    const out: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(join(this.#root, dir), { withFileTypes: true })) {
        if (e.name === 'node_modules' || e.name === '.git' || e.name === 'dist') continue;
        const rel = dir === '' ? e.name : `${dir}/${e.name}`;
        if (e.isDirectory()) walk(rel);
        else out.push(rel);
      }
    };
    walk('');
    return (this.#files = out);
  }

  /** A repository-relative path (no fragment) exists: a file, a directory, or one arriving. */
  #exists(rel: string): boolean {
    const clean = rel.replace(/\/+$/, '');
    const abs = resolve(this.#root, clean);
    if (abs !== this.#root && !abs.startsWith(this.#root + sep)) return false;
    return existsSync(abs) || this.#arriving.has(clean);
  }

  #anchorsOf(rel: string): Set<string> {
    let a = this.#anchors.get(rel);
    if (!a) {
      a = anchors(readFileSync(join(this.#root, rel), 'utf8'));
      this.#anchors.set(rel, a);
    }
    return a;
  }

  /** A target with an optional #fragment, relative to the repository root. */
  #target(file: string, line: number, shown: string, rel: string, fragment: string | undefined): void {
    if (!this.#exists(rel)) {
      this.#problem(file, line, `${shown}: no such file or directory (${rel})`);
      return;
    }
    if (fragment === undefined || fragment === '') return;
    const abs = join(this.#root, rel);
    if (!existsSync(abs) || !rel.endsWith('.md') || statSync(abs).isDirectory()) {
      this.#problem(file, line, `${shown}: #${fragment} can only be checked in a Markdown file`);
      return;
    }
    if (!this.#anchorsOf(rel).has(fragment))
      this.#problem(file, line, `${shown}: ${rel} has no heading for #${fragment}`);
  }

  #link(file: string, line: number, href: string): void {
    if (/^[a-z][a-z0-9+.-]*:/i.test(href)) return; // https:, mailto:
    const [path = '', fragment] = href.split('#', 2);
    const decoded = decodeURIComponent(path);
    if (decoded.startsWith('/')) {
      this.#problem(file, line, `link ${href}: use a path relative to ${file}`);
      return;
    }
    const rel = decoded === '' ? file : posix.normalize(posix.join(posix.dirname(file), decoded));
    if (rel.startsWith('../')) {
      this.#problem(file, line, `link ${href}: points outside the repository`);
      return;
    }
    this.#target(file, line, `link ${href}`, rel, fragment);
  }

  /** A path written in code: placeholders and globs are checked up to where they start. */
  #codePath(file: string, line: number, token: string): void {
    const [raw = '', fragment] = token.split('#', 2);
    const path = raw.replace(/:\d+(?:-\d+)?$/, '');
    const brace = /\{([^{}]*)\}/.exec(path);
    if (brace) {
      for (const alt of (brace[1] ?? '').split(','))
        this.#codePath(file, line, path.replace(brace[0], alt) + (fragment ? `#${fragment}` : ''));
      return;
    }
    if (/[*?]/.test(path)) {
      const re = new RegExp(
        `^${path
          .replace(/[.+^$()|[\]\\]/g, '\\$&')
          .replace(/\*/g, '[^/]*')
          .replace(/\?/g, '[^/]')}$`,
      );
      if (!this.#allFiles().some((f) => re.test(f)))
        this.#problem(file, line, `\`${token}\`: matches no file`);
      return;
    }
    const open = path.search(/[<…]/);
    if (open >= 0) {
      const dir = path.slice(0, path.lastIndexOf('/', open) + 1);
      if (!this.#exists(dir)) this.#problem(file, line, `\`${token}\`: no such directory (${dir})`);
      return;
    }
    this.#target(file, line, `\`${token}\``, path, fragment);
  }

  check(file: string): void {
    const text = readFileSync(join(this.#root, file), 'utf8');
    const refs = new Map<string, string>();
    for (const m of text.matchAll(/^ {0,3}\[([^\]]+)\]:\s*(\S+)/gm))
      refs.set((m[1] ?? '').toLowerCase(), m[2] ?? '');
    for (const { n, text: l, code } of lines(text)) {
      for (const [re, what] of OUTSIDE) {
        const m = re.exec(l);
        if (m)
          this.#problem(
            file,
            n,
            `"${m[0]}" refers to ${what}: state the fact, or cite a file of this repository`,
          );
      }
      if (code) {
        for (const p of pathsIn(l)) this.#codePath(file, n, p);
        continue;
      }
      // Code spans first, then links in what is left (a link's text may hold a code span).
      for (const m of l.matchAll(/(`+)([^`]+?)\1/g))
        for (const p of pathsIn(m[2] ?? '')) this.#codePath(file, n, p);
      const prose = l.replace(/(`+)[^`]+?\1/g, (s) => ' '.repeat(s.length));
      for (const m of prose.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g))
        this.#link(file, n, m[1] ?? '');
      for (const m of prose.matchAll(/^ {0,3}\[[^\]]+\]:\s*(\S+)/g)) this.#link(file, n, m[1] ?? '');
      for (const m of prose.matchAll(/(?<!\])\[([^\]]+)\]\[([^\]]*)\]/g)) {
        const key = ((m[2] ?? '') === '' ? (m[1] ?? '') : (m[2] ?? '')).toLowerCase();
        if (!refs.has(key)) this.#problem(file, n, `reference link [${key}] has no definition`);
      }
    }
  }

  /** Entries of ARRIVING whose file exists now: the entry has done its job. */
  arrived(): string[] {
    return [...this.#arriving].filter((a) => existsSync(join(this.#root, a)));
  }
}

/** Checks every doc file under root; the problems, in file order. */
export function checkDocs(
  root: string,
  arriving: ReadonlySet<string> = ARRIVING,
): { files: string[]; problems: Problem[] } {
  const c = new Checker(root, arriving);
  const files = docFiles(root);
  for (const f of files) c.check(f);
  for (const a of c.arrived())
    c.problems.push({
      file: 'scripts/check-docs.ts',
      line: 0,
      message: `${a} exists now: remove it from ARRIVING`,
    });
  return { files, problems: c.problems };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const root = resolve(process.argv[2] ?? join(dirname(import.meta.filename), '..'));
  const { files, problems } = checkDocs(root);
  for (const p of problems) console.error(`${p.file}:${p.line}: ${p.message}`);
  if (problems.length > 0) {
    console.error(`check-docs: ${problems.length} problem(s) in ${relative(process.cwd(), root) || '.'}`);
    process.exitCode = 1;
  } else {
    console.log(`check-docs: ${files.length} files, every reference resolves`);
  }
}
