// Builds dist/: the CLI as a few ES module files (esbuild), not one file per source module.
// Why: a run used to spend ~0.15 s of its start-up resolving and compiling ~280 modules (src and
// node_modules); bundled, the same code loads from a handful of files. Each command's code and the
// rarely used parts (metrics, the Vault client, scheduler mode) stay in their own chunks, loaded on use.
// Type checking is not done here: `npm run lint` (tsc --noEmit) does it.
import { rmSync } from 'node:fs';
import { build } from 'esbuild';
import { EXTERNAL } from './runtime-deps.ts';

const root = new URL('..', import.meta.url).pathname;
rmSync(`${root}dist`, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: ['src/cli/main.ts'],
  // Chunks sit next to main.js: `new URL('../../package.json', import.meta.url)` holds in every one.
  outdir: 'dist/cli',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node24',
  sourcemap: 'linked',
  logLevel: 'warning',
  // Loaded only on demand and resolved from node_modules at run time: the Azure SDKs (an Azure store)
  // and pino-pretty (text logs on a terminal).
  external: EXTERNAL,
  // CommonJS dependencies bundled into ES modules still call require() for Node's built-ins.
  banner: {
    js: "import { createRequire as __regcredRequire } from 'node:module';\nconst require = __regcredRequire(import.meta.url);",
  },
});
