/**
 * The contract every credential store honours (src/providers/types.ts), as one suite each store runs
 * against its real backend: fetch, revision stability, a new version changes the revision, not-found,
 * auth failure, unreachable, malformed value.
 */
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/load.ts';
import { resolveCredentials } from '../../src/credentials/resolve.ts';
import { Sensitive } from '../../src/base/sensitive.ts';
import { RotatorError } from '../../src/errors.ts';
import type { SecretStore, StoreWrite } from '../../src/providers/types.ts';

export interface ContractSubject {
  /** A store with working credentials. */
  store(): SecretStore;
  /** Writes `value` under `key` in the backend, creating a new version. */
  write(key: string, value: string): Promise<void>;
  /** A store whose credentials the backend refuses; `null` for a store that has no credentials (a file). */
  unauthenticated: (() => SecretStore) | null;
  /** A store pointed at a backend that is not there. */
  unreachable(): SecretStore;
  /** Writable stores: one whose identity may write new versions, and `store()`'s may not. */
  writer?: (() => SecretStore) | undefined;
}

const codeOf = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
    return 'no error';
  } catch (e) {
    return e instanceof RotatorError ? e.code : String(e);
  }
};

/** `hasCredentials: false` (a file store) leaves out the refused-credentials case: there is nothing to refuse. */
export function storeContract(
  name: string,
  subject: () => ContractSubject,
  { hasCredentials = true }: { hasCredentials?: boolean } = {},
): void {
  describe(`store contract: ${name}`, () => {
    const key = `contract-${Math.random().toString(36).slice(2, 8)}`;

    it('fetches the current value', async () => {
      const s = subject();
      await s.write(key, 'value-one');
      const v = await s.store().get(key);
      expect(v.value.reveal()).toBe('value-one');
      expect(v.updatedAt).toBeInstanceOf(Date);
      expect(Math.abs(Date.now() - v.updatedAt!.getTime())).toBeLessThan(120_000);
    });

    it('gives the same revision for the same version', async () => {
      const st = subject().store();
      const [a, b] = [await st.get(key), await st.get(key)];
      expect(a.revision).toBe(b.revision);
      expect(a.revision).not.toContain('value-one');
    });

    it('gives a new revision for a new version', async () => {
      const s = subject();
      const before = await s.store().get(key);
      await s.write(key, 'value-two');
      const after = await s.store().get(key);
      expect(after.value.reveal()).toBe('value-two');
      expect(after.revision).not.toBe(before.revision);
    });

    it('reports a missing key as STORE_NOT_FOUND, naming store and key', async () => {
      const st = subject().store();
      expect(await codeOf(st.get('no-such-key-xyz'))).toBe('STORE_NOT_FOUND');
      await expect(st.get('no-such-key-xyz')).rejects.toThrow(/no-such-key-xyz/);
    });

    if (hasCredentials)
      it('reports refused credentials as STORE_AUTH', async () => {
        const u = subject().unauthenticated;
        expect(u).not.toBeNull();
        expect(await codeOf(u!().get(key))).toBe('STORE_AUTH');
      });

    it('reports an absent backend as STORE_UNREACHABLE', async () => {
      expect(await codeOf(subject().unreachable().get(key))).toBe('STORE_UNREACHABLE');
    });

    it('a malformed value is refused before anything is written, naming store and key, never the value', async () => {
      const s = subject();
      await s.write(key, '{"username": "u", "password": 12345-not-json');
      const target = validateConfig(
        {
          stores: { x: { type: 'file', path: '.' } },
          targets: [
            {
              name: 't',
              store: 'x',
              registry: 'r.example.com',
              credentials: { json: { key } },
              namespaces: { names: ['n'] },
            },
          ],
        },
        't.yaml',
      ).targets[0]!;
      const err = await resolveCredentials(target, s.store(), new Map()).catch(
        (e: unknown) => e as RotatorError,
      );
      expect(err).toMatchObject({ code: 'STORE_VALUE_MALFORMED' });
      expect((err as Error).message).toContain(key);
      expect((err as Error).message).not.toContain('12345-not-json');
    });

    const writer = subject().writer;
    if (writer)
      describe('writes (what an issuer does)', () => {
        const wkey = `${key}-w`;
        const write = (password: string, id: string): StoreWrite => ({
          fields: { username: 'robot', password: new Sensitive(password) },
          meta: { 'regcred-credential-id': id, 'regcred-issued-at': '2026-12-07T10:00:00.000Z' },
        });

        it('writes a first version only where there is none, and reads value and meta back', async () => {
          const w = writer();
          const v1 = await w.put!(wkey, write('first-Secret-1', 'a'), null);
          expect(JSON.parse(v1.value.reveal())).toEqual({ username: 'robot', password: 'first-Secret-1' });
          expect(v1.meta).toEqual({
            'regcred-credential-id': 'a',
            'regcred-issued-at': '2026-12-07T10:00:00.000Z',
          });
          const read = await subject().store().get(wkey);
          expect(read.revision).toBe(v1.revision);
          expect(read.meta).toEqual(v1.meta);
          expect(await codeOf(w.put!(wkey, write('again-Secret-1', 'b'), null))).toBe('STORE_CONFLICT');
        });

        it('writes the next version only on the revision it read (check-and-set); a stale one writes nothing', async () => {
          const w = writer();
          const before = await w.get(wkey);
          const v2 = await w.put!(wkey, write('second-Secret-2', 'b'), before.revision);
          expect(v2.revision).not.toBe(before.revision);
          expect(v2.meta?.['regcred-credential-id']).toBe('b');
          const err = await w.put!(wkey, write('third-Secret-3', 'c'), before.revision).catch(
            (e: unknown) => e as RotatorError,
          );
          expect(err).toMatchObject({ code: 'STORE_CONFLICT' });
          expect((err as Error).message).not.toContain('third-Secret-3');
          const now = await subject().store().get(wkey);
          expect(now.revision).toBe(v2.revision);
          expect(JSON.parse(now.value.reveal())).toMatchObject({ password: 'second-Secret-2' });
        });

        it('an identity that may only read is refused with STORE_PERMISSION, naming what the write needs', async () => {
          const r = subject().store();
          const current = await r.get(wkey);
          const err = await r.put!(wkey, write('nope-Secret-4', 'd'), current.revision).catch(
            (e: unknown) => e as RotatorError,
          );
          expect(err).toMatchObject({ code: 'STORE_PERMISSION' });
          expect((err as Error).message).toMatch(/updat|setSecret|set/i);
          expect((err as Error).message).not.toContain('nope-Secret-4');
        });
      });
  });
}
