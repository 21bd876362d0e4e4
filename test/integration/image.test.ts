/** The Dockerfile's build steps, replayed without a container engine (scripts/check-image.sh). */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { expect, it } from 'vitest';

it('the image builds, runs as non-root on a read-only tree, answers --version and validate, and lints clean', () => {
  const r = spawnSync('bash', [resolve(import.meta.dirname, '../../scripts/check-image.sh')], {
    encoding: 'utf8',
    timeout: 300_000,
  });
  expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
  expect(r.stdout).toMatch(/\[image\] --version: \d+\.\d+\.\d+/);
  expect(r.stdout).toMatch(/config\.example\.yaml: valid/);
  expect(r.stdout).toMatch(/\[image\] ok/);
}, 300_000);
