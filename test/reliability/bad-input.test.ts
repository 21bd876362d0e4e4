/**
 * The bad-input corpus (test/fixtures): every invalid config exits 2 with its message and contacts
 * nothing; every malformed store value exits 1 with its message; none changes the cluster.
 */
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Workspace, runCli } from '../helpers/rotator.ts';
import { createNamespace, deleteNamespaces, snapshotNamespaces, stack, suffix } from '../helpers/stack.ts';

const FIX = resolve(import.meta.dirname, '../fixtures');
const ns = `bad-${suffix()}`;
let before = '';
const tried: string[] = [];
beforeAll(async () => {
  await createNamespace(ns);
  before = await snapshotNamespaces([ns]);
});
afterAll(async () => {
  expect(await snapshotNamespaces([ns])).toBe(before);
  console.log(`[reliability] bad input: ${tried.length} inputs tried, cluster unchanged`);
  await deleteNamespaces([ns]);
});

const configs = readdirSync(join(FIX, 'configs'))
  .filter((f) => f.endsWith('.yaml'))
  .sort();
// Each case is its own process with its own workspace and lock: they run a few at a time (the CLI's start
// is most of each case).
describe.concurrent('invalid configs', () => {
  it('the corpus has at least 30', () => expect(configs.length).toBeGreaterThanOrEqual(30));
  it.for(configs)('%s: exit 2 with the expected message', async (file, { expect }) => {
    const text = readFileSync(join(FIX, 'configs', file), 'utf8');
    const expectRe = new RegExp(/^# expect: (.*)$/m.exec(text)?.[1] ?? 'MISSING');
    const w = new Workspace();
    copyFileSync(join(FIX, 'configs', file), w.config);
    const r = await runCli(['--config', w.config, '--rotate-now']);
    tried.push(file);
    expect(r.code, r.text).toBe(2);
    expect(r.text).toMatch(expectRe);
    // Every run ends with its summary line, this one too: the exit code, why, and nothing else done.
    expect(r.summary).toMatchObject({ exitCode: 2, result: 'config_invalid' });
  });
});

interface ValueCase {
  name: string;
  shape: 'json' | 'dockerconfigjson' | 'separate' | 'separate-user';
  file: string;
  expect: string;
}
const values = (parse(readFileSync(join(FIX, 'values', 'cases.yaml'), 'utf8')) as { cases: ValueCase[] })
  .cases;
describe.concurrent('malformed store values', () => {
  it('the corpus has at least 12', () => expect(values.length).toBeGreaterThanOrEqual(12));
  it.for(values.map((v) => [v.name, v] as const))(
    '%s: exit 1 with the expected message, nothing written',
    async ([, v], { expect }) => {
      const w = new Workspace();
      const raw =
        v.name === 'huge' ? Buffer.alloc(1024 * 1024 + 10, 'x') : readFileSync(join(FIX, 'values', v.file));
      const value = Buffer.from(raw.toString('latin1').replaceAll('REG', stack.registryBasic), 'latin1');
      const credentials =
        v.shape === 'json'
          ? { json: { key: 'v' } }
          : v.shape === 'dockerconfigjson'
            ? { dockerconfigjson: { key: 'v' } }
            : { username: { key: 'u' }, password: { key: 'p' } };
      if (v.shape === 'separate') {
        w.cred('u', stack.user);
        writeFileSync(join(w.creds, 'p'), v.name === 'binary' || v.name === 'huge' ? raw : value);
      } else if (v.shape === 'separate-user') {
        writeFileSync(join(w.creds, 'u'), value);
        w.cred('p', stack.password);
      } else writeFileSync(join(w.creds, 'v'), value);
      w.writeConfig({
        stores: { local: { type: 'file', path: w.creds } },
        targets: [
          {
            name: 'bad',
            store: 'local',
            registry: stack.registryBasic,
            credentials,
            namespaces: { names: [ns] },
          },
        ],
        lock: { namespace: 'default', name: `bad-${v.name}` },
      });
      const r = await w.rotate();
      tried.push(v.name);
      expect(r.code, r.text).toBe(1);
      expect(r.text).toMatch(new RegExp(v.expect.replaceAll('REG', stack.registryBasic.replace('.', '\\.'))));
      expect(r.summary?.['writes']).toBe(0);
    },
  );
});
