import { mkdtempSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileStoreProvider } from '../../src/providers/file/index.ts';
import { silentLogger } from '../../src/base/logger.ts';
import { storeContract } from './store-contract.ts';

const dir = mkdtempSync(join(tmpdir(), 'file-store-'));
const ctx = { logger: silentLogger(), baseDir: '/' };
const store = (path = dir) => fileStoreProvider.create('local', { type: 'file', path }, ctx);

storeContract(
  'file',
  () => ({
    store: () => store(),
    write: async (key, value) => writeFileSync(join(dir, key), value),
    unauthenticated: null,
    unreachable: () => store(join(dir, 'not-mounted')),
  }),
  { hasCredentials: false },
);

describe('file store specifics', () => {
  it('drops one trailing newline (echo > file), keeps the rest of the value byte for byte', async () => {
    writeFileSync(join(dir, 'nl'), ' pass word\n');
    expect((await store().get('nl')).value.reveal()).toBe(' pass word');
  });
  it('reads through the symlinks of a mounted Secret volume (..data/)', async () => {
    const vol = mkdtempSync(join(tmpdir(), 'secret-volume-'));
    mkdirSync(join(vol, '..2026_11_29_00_00_00.000000001'));
    writeFileSync(join(vol, '..2026_11_29_00_00_00.000000001', 'password'), 'from-volume');
    symlinkSync('..2026_11_29_00_00_00.000000001', join(vol, '..data'));
    symlinkSync('..data/password', join(vol, 'password'));
    expect((await store(vol).get('password')).value.reveal()).toBe('from-volume');
    expect(await store(vol).check()).toMatch(/readable \(1 files\)/);
  });
  it('a key is a plain file name: no paths out of the directory', async () => {
    await expect(store().get('../etc/passwd')).rejects.toMatchObject({ code: 'STORE_NOT_FOUND' });
  });
});
