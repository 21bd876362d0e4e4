import { createHash } from 'node:crypto';
import { readFile, readdir, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Sensitive } from '../../base/sensitive.ts';
import { RotatorError } from '../../errors.ts';
import type { SecretStore, StoreContext, StoreProvider, StoreValue } from '../types.ts';
import type { FileStoreConfig } from './schema.ts';

/** A Kubernetes Secret holds at most 1 MiB; a bigger file cannot be a credential. */
const MAX_VALUE_BYTES = 1024 * 1024;

class FileStore implements SecretStore {
  readonly type = 'file';
  readonly name: string;
  readonly #dir: string;

  constructor(name: string, dir: string) {
    this.name = name;
    this.#dir = dir;
  }

  #error(
    code: 'STORE_NOT_FOUND' | 'STORE_PERMISSION' | 'STORE_UNREACHABLE' | 'STORE_VALUE_MALFORMED',
    key: string,
    what: string,
    cause?: unknown,
  ): RotatorError {
    return new RotatorError(code, `store "${this.name}" (file) key "${key}": ${what}`, {
      cause,
      details: { store: this.name, key },
    });
  }

  async get(key: string): Promise<StoreValue> {
    if (key === '' || key.includes('/') || key.includes('\\') || key === '.' || key === '..') {
      throw this.#error('STORE_NOT_FOUND', key, 'a key must be a plain file name inside the store directory');
    }
    const file = resolve(this.#dir, key);
    let bytes: Buffer;
    let mtime: Date;
    try {
      const st = await stat(file);
      if (!st.isFile()) throw this.#error('STORE_NOT_FOUND', key, `${file} is not a regular file`);
      if (st.size > MAX_VALUE_BYTES)
        throw this.#error('STORE_VALUE_MALFORMED', key, `is larger than 1 MiB (${st.size} bytes)`);
      bytes = await readFile(file);
      mtime = st.mtime;
    } catch (e) {
      if (e instanceof RotatorError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        const dirExists = await stat(this.#dir).then(
          (d) => d.isDirectory(),
          () => false,
        );
        if (!dirExists)
          throw this.#error(
            'STORE_UNREACHABLE',
            key,
            `directory ${this.#dir} does not exist (is the Secret volume mounted?)`,
            e,
          );
        throw this.#error('STORE_NOT_FOUND', key, `no file ${file} (directory ${this.#dir})`, e);
      }
      if (code === 'EACCES' || code === 'EPERM')
        throw this.#error('STORE_PERMISSION', key, `cannot read ${file}: permission denied`, e);
      throw this.#error('STORE_UNREACHABLE', key, `cannot read ${file} (${code ?? 'error'})`, e);
    }
    const text = bytes.toString('utf8');
    if (!Buffer.from(text, 'utf8').equals(bytes) || text.includes('\u0000')) {
      throw this.#error('STORE_VALUE_MALFORMED', key, 'is not UTF-8 text (binary content)');
    }
    return {
      // One trailing newline is an artefact of `echo > file`, never part of a credential.
      value: new Sensitive(text.replace(/\r?\n$/, '')),
      revision: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
      updatedAt: mtime,
    };
  }

  async check(): Promise<string> {
    try {
      const entries = await readdir(this.#dir);
      return `directory ${this.#dir} readable (${entries.filter((e) => !e.startsWith('.')).length} files)`;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new RotatorError(
        code === 'ENOENT' ? 'STORE_NOT_FOUND' : 'STORE_UNREACHABLE',
        `store "${this.name}" (file): cannot read directory ${this.#dir} (${code ?? 'error'})`,
        { cause: e, details: { store: this.name } },
      );
    }
  }

  async close(): Promise<void> {}
}

export const fileStoreProvider: StoreProvider<FileStoreConfig> = {
  type: 'file',
  create(name: string, config: FileStoreConfig, ctx: StoreContext): SecretStore {
    return new FileStore(name, resolve(ctx.baseDir, config.path));
  },
};
