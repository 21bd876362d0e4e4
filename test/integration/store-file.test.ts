import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileStoreProvider } from '../../src/providers/file/index.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { storeContract } from './store-contract.ts';

const dir = mkdtempSync(join(tmpdir(), 'file-store-'));
const ctx = { logger: silentLogger(), baseDir: '/' };

storeContract('file', () => ({
  store: () => fileStoreProvider.create('local', { type: 'file', path: dir }, ctx),
  write: async (key, value) => writeFileSync(join(dir, key), value),
  unauthenticated: { skip: 'a file store has no credentials to refuse' },
  unreachable: () => fileStoreProvider.create('local', { type: 'file', path: join(dir, 'not-mounted') }, ctx),
}));
