/**
 * The layer check `npm run lint` runs (.dependency-cruiser.cjs), on small trees written for each case: it
 * passes a tree that follows the layers and fails one with an import cycle or an upward import.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { cruise, type IConfiguration, type ICruiseResult } from 'dependency-cruiser';
import { afterAll, describe, expect, it } from 'vitest';

const config = createRequire(import.meta.url)(
  resolve(import.meta.dirname, '../../.dependency-cruiser.cjs'),
) as IConfiguration;
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The rules violated by a tree of `files` (path → the relative paths it imports). */
async function violations(files: Record<string, string[]>): Promise<string[]> {
  const root = mkdtempSync(join(tmpdir(), 'layers-'));
  dirs.push(root);
  for (const [path, imports] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    const body = imports.map((p, i) => `import { x as x${i} } from '${p}';\nvoid x${i};`).join('\n');
    writeFileSync(join(root, path), `${body}\nexport const x = 1;\n`);
  }
  const out = await cruise(['src'], {
    ruleSet: { forbidden: config.forbidden ?? [] },
    validate: true,
    baseDir: root,
    tsPreCompilationDeps: true,
  });
  const result = out.output as ICruiseResult;
  return result.summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`);
}

/** A tree that follows the layers: the batch calls the unit, the scheduler both, the unit only below. */
const good = {
  'src/base/pool.ts': [],
  'src/kube/gateway.ts': ['../base/pool.ts'],
  'src/rotation/unit/plan.ts': ['../../kube/gateway.ts'],
  'src/rotation/unit/converge.ts': ['./plan.ts'],
  'src/rotation/batch/run.ts': ['../unit/converge.ts', '../../base/pool.ts'],
  'src/scheduler/reactor.ts': ['../rotation/unit/converge.ts', '../rotation/batch/run.ts'],
  'src/cli/main.ts': ['../scheduler/reactor.ts'],
};

describe('the layer check', () => {
  it('passes a tree that follows the layers', async () => {
    expect(await violations(good)).toEqual([]);
  });

  it('fails an import cycle, even inside one folder', async () => {
    expect(
      await violations({
        ...good,
        'src/rotation/batch/summary.ts': ['./tally.ts'],
        'src/rotation/batch/tally.ts': ['./summary.ts'],
      }),
    ).toEqual(['no-cycle: src/rotation/batch/summary.ts → src/rotation/batch/tally.ts']);
  });

  it('fails an upward import: the unit importing the batch, the kube adapter importing the engine', async () => {
    expect(
      await violations({
        ...good,
        'src/rotation/unit/converge.ts': ['./plan.ts', '../batch/run.ts'],
        'src/kube/gateway.ts': ['../rotation/unit/plan.ts'],
      }),
    ).toEqual(
      expect.arrayContaining([
        'layer:rotation/unit: src/rotation/unit/converge.ts → src/rotation/batch/run.ts',
        'layer:kube: src/kube/gateway.ts → src/rotation/unit/plan.ts',
      ]),
    );
  });

  it('fails a module outside every layer', async () => {
    expect(await violations({ ...good, 'src/misc/util.ts': ['../base/pool.ts'] })).toEqual([
      'not-in-a-layer: src/misc/util.ts → src/base/pool.ts',
    ]);
  });
});
