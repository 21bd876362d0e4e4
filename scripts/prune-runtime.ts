// The image's runtime node_modules: only what the bundle loads from it (scripts/runtime-deps.ts), and from
// those packages only what Node reads. Runs in the Dockerfile's deps stage after `npm ci --omit=dev` and
// `npm sbom`, and in scripts/check-image.sh:
//   node scripts/prune-runtime.ts <app dir>     (its node_modules/ and, if present, sbom.cdx.json)
// Packages bundled into dist/ (zod, yaml, pino, prom-client, ...) leave node_modules but stay in the SBOM:
// their code ships inside dist/. Packages never loaded at all leave both.
import { existsSync, lstatSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { EXTERNAL, NEVER_LOADED, OTHER_PLATFORM_DIRS, UNUSED_FILE } from './runtime-deps.ts';

interface LockPackage {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  dev?: boolean;
}

const app = process.argv[2] ?? '.';
const lock = JSON.parse(readFileSync(join(app, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, LockPackage>;
};
const packages = lock.packages;
const nameOf = (path: string) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
const matches = (name: string, patterns: readonly string[]) =>
  patterns.some((p) => (p.endsWith('/*') ? name.startsWith(p.slice(0, -1)) : name === p));

/** Node's lookup: <from>/node_modules/<name>, then each parent's, as npm laid the tree out. */
function resolve(from: string, name: string): string | undefined {
  for (let dir = from; ; dir = dirname(dirname(dir))) {
    const candidate = dir === '' ? `node_modules/${name}` : `${dir}/node_modules/${name}`;
    if (packages[candidate]) return candidate;
    if (dir === '' || !dir.includes('node_modules/'))
      return packages[`node_modules/${name}`] ? `node_modules/${name}` : undefined;
  }
}

// The closure of the external packages, never-loaded ones excluded.
const keep = new Set<string>();
const queue = Object.keys(packages).filter(
  (p) =>
    p.startsWith('node_modules/') &&
    !p.slice(13).includes('node_modules/') &&
    !packages[p]?.dev &&
    matches(nameOf(p), EXTERNAL),
);
while (queue.length > 0) {
  const p = queue.pop()!;
  if (keep.has(p) || matches(nameOf(p), NEVER_LOADED)) continue;
  keep.add(p);
  const pkg = packages[p] ?? {};
  for (const dep of Object.keys({
    ...pkg.dependencies,
    ...pkg.optionalDependencies,
    ...pkg.peerDependencies,
  })) {
    const r = resolve(p, dep);
    if (r) queue.push(r);
  }
}

/** Every file under dir (symlinks as themselves). */
function* files(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const f = join(dir, e.name);
    if (e.isDirectory()) yield* files(f);
    else yield f;
  }
}
const sizeOf = (dir: string) => {
  let n = 0;
  for (const f of files(dir)) n += lstatSync(f).size;
  return n;
};

const modules = join(app, 'node_modules');
const before = sizeOf(modules);
// What `npm ci --omit=dev` installed (name@version, as the SBOM's bom-refs name them), before the prune.
const installed = new Set(
  Object.keys(packages)
    .filter((p) => p.startsWith('node_modules/') && existsSync(join(app, p, 'package.json')))
    .map((p) => {
      const m = JSON.parse(readFileSync(join(app, p, 'package.json'), 'utf8')) as { version: string };
      return `${nameOf(p)}@${m.version}`;
    }),
);
const dropped: string[] = [];
// Deepest first, so that a nested package is judged before the one it sits in.
for (const p of Object.keys(packages)
  .filter((k) => k.startsWith('node_modules/'))
  .sort((a, b) => b.length - a.length)) {
  if (keep.has(p) || !existsSync(join(app, p))) continue;
  // A kept package nested inside a dropped one keeps its parent's directory (npm never nests that way).
  if ([...keep].some((k) => k.startsWith(`${p}/`))) throw new Error(`${p} holds kept packages`);
  rmSync(join(app, p), { recursive: true });
  dropped.push(nameOf(p));
}
// Command links of the dropped and kept packages alike: nothing runs them in the image.
rmSync(join(modules, '.bin'), { recursive: true, force: true });
for (const p of keep) {
  for (const d of OTHER_PLATFORM_DIRS) rmSync(join(app, p, d), { recursive: true, force: true });
  for (const f of files(join(app, p))) if (UNUSED_FILE.test(f)) rmSync(f);
}

// The guard: no kept code names a never-loaded package (manifests list it as a dependency; that is all).
for (const f of files(modules)) {
  if (f.endsWith('package.json') || !/\.[cm]?js$/.test(f)) continue;
  const text = readFileSync(f, 'utf8');
  for (const name of NEVER_LOADED)
    if (text.includes(`'${name}'`) || text.includes(`"${name}"`))
      throw new Error(`${relative(app, f)} names ${name}: it may be loaded, so it cannot be pruned`);
}

// The SBOM (npm's, of the whole lockfile) narrowed to what ships: every package npm installed for
// production, bundled into dist/ or kept in node_modules, less the never-loaded ones. (npm 11's own
// --omit=dev also drops `yaml`, a production dependency that a dev dependency names as an optional peer.)
const sbomFile = join(app, 'sbom.cdx.json');
if (existsSync(sbomFile)) {
  const sbom = JSON.parse(readFileSync(sbomFile, 'utf8')) as {
    metadata: { component: { 'bom-ref': string } };
    components?: { 'bom-ref': string; name: string }[];
    dependencies?: { ref: string; dependsOn?: string[] }[];
  };
  const ships = (c: { 'bom-ref': string; name: string }) =>
    installed.has(c['bom-ref']) && !matches(c.name, NEVER_LOADED);
  sbom.components = (sbom.components ?? []).filter(ships);
  const refs = new Set([sbom.metadata.component['bom-ref'], ...sbom.components.map((c) => c['bom-ref'])]);
  sbom.dependencies = (sbom.dependencies ?? [])
    .filter((d) => refs.has(d.ref))
    .map((d) => ({ ...d, dependsOn: (d.dependsOn ?? []).filter((r) => refs.has(r)) }));
  writeFileSync(sbomFile, `${JSON.stringify(sbom, null, 2)}\n`);
  console.log(`[prune] SBOM: ${sbom.components.length} components ship (bundled or in node_modules)`);
}
const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
console.log(
  `[prune] node_modules ${mb(before)} -> ${mb(sizeOf(modules))}: ${keep.size} packages kept, ${dropped.length} dropped`,
);
