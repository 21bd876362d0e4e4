/**
 * The image: the Dockerfile's build steps replayed without a container engine (scripts/check-image.sh),
 * and the image itself, built from the Dockerfile with buildah (test/stack/image/build.sh): OCI labels,
 * no npm, npx, corepack or yarn, node_modules pruned to what the bundle loads, no source maps, the SBOM
 * at /app/sbom.cdx.json.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectImage } from '../helpers/deploy.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

it('the image builds, runs as non-root on a read-only tree, answers --version and validate, and lints clean', () => {
  const r = spawnSync('bash', [join(ROOT, 'scripts/check-image.sh')], { encoding: 'utf8', timeout: 300_000 });
  expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
  expect(r.stdout).toMatch(/\[image\] --version: \d+\.\d+\.\d+/);
  expect(r.stdout).toMatch(/config\.example\.yaml: valid/);
  expect(r.stdout).toMatch(/\[image\] SBOM: CycloneDX 1\.\d+, \d+ components/);
  expect(r.stdout).toMatch(
    /loaded from node_modules: @azure\/identity, @azure\/keyvault-secrets, pino-pretty/,
  );
  expect(r.stdout).toMatch(/pretty logs \(pino-pretty\): ok/);
  expect(r.stdout).toMatch(/\[image\] ok/);
}, 300_000);

describe('the image built from the Dockerfile', () => {
  const buildah = (...args: string[]) => {
    const r = spawnSync('buildah', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`buildah ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };

  it('carries OCI labels, holds no npm, ships its SBOM and only the node_modules the bundle loads', () => {
    const ref = projectImage();
    const local = `localhost/regcred-rotator:${ref.slice(ref.lastIndexOf(':') + 1)}`;
    const info = JSON.parse(buildah('inspect', '--type', 'image', local)) as {
      OCIv1: { config: { Labels: Record<string, string>; User: string; Entrypoint: string[] } };
    };
    const labels = info.OCIv1.config.Labels;
    expect(labels).toMatchObject({
      'org.opencontainers.image.title': 'regcred-rotator',
      'org.opencontainers.image.version': version,
      'org.opencontainers.image.licenses': 'Apache-2.0',
    });
    expect(labels['org.opencontainers.image.revision']).toMatch(/^t-[0-9a-f]{12}$/);
    expect(labels['org.opencontainers.image.base.name']).toMatch(/debian:bookworm-slim/);
    expect(info.OCIv1.config.User).toBe('65532:65532');
    expect(info.OCIv1.config.Entrypoint[0]).toBe('/usr/local/bin/node');

    const ctr = buildah('from', '--pull=never', local);
    try {
      const root = buildah('mount', ctr);
      for (const tool of [
        'usr/local/bin/npm',
        'usr/local/bin/npx',
        'usr/local/bin/corepack',
        'usr/local/bin/yarn',
        'usr/local/lib/node_modules',
      ])
        expect(existsSync(join(root, tool)), tool).toBe(false);
      expect(existsSync(join(root, 'usr/local/bin/node'))).toBe(true);
      const sbom = JSON.parse(readFileSync(join(root, 'app/sbom.cdx.json'), 'utf8')) as {
        bomFormat: string;
        components: { name: string }[];
      };
      expect(sbom.bomFormat).toBe('CycloneDX');
      expect(sbom.components.map((c) => c.name)).toEqual(
        expect.arrayContaining(['zod', 'yaml', '@azure/identity']),
      );
      expect(sbom.components.map((c) => c.name)).not.toContain('@azure/msal-browser');
      expect(existsSync(join(root, 'app/node_modules/@azure/msal-browser'))).toBe(false);
      expect(existsSync(join(root, 'app/node_modules/zod'))).toBe(false); // bundled into dist/
      expect(readdirSync(join(root, 'app/dist/cli')).filter((f) => f.endsWith('.map'))).toEqual([]);
      expect(existsSync(join(root, 'app/LICENSE'))).toBe(true);
      const size = buildah('images', '--format', '{{.Size}}', local);
      console.log(`[image] ${local}: ${size}`);
    } finally {
      spawnSync('buildah', ['umount', ctr]);
      spawnSync('buildah', ['rm', ctr]);
    }
  }, 600_000);
});
