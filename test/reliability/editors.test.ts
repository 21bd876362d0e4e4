/** Concurrent editors: another process adds and removes its own entries during a rotation; all survive. */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fileConfig, NODE, useCreds, Workspace } from '../helpers/rotator.ts';
import { createNamespace, deleteNamespaces, pullSecretsOf, stack, suffix } from '../helpers/stack.ts';

const sfx = suffix();
const names = Array.from({ length: 20 }, (_, i) => `edit-${sfx}-${i}`);
afterAll(() => deleteNamespaces(names));
beforeAll(async () => {
  for (const ns of names) await createNamespace(ns, { edit: sfx });
});

it('every add and remove of the other writer survives three rotations it races with', async () => {
  const w = new Workspace();
  fileConfig(
    w,
    { name: 'edit', secretName: 'regcred', namespaces: { selector: `edit=${sfx}` } },
    {
      rotation: { retainSuperseded: '0', concurrency: 8 },
      lock: { namespace: 'default', name: `edit-${sfx}` },
    },
  );
  const editor = spawn(NODE, [new URL('./editor.ts', import.meta.url).pathname, stack.kubeconfig, ...names], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  editor.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const done = new Promise((r) => editor.on('close', r));
  for (const second of [false, true, false]) {
    useCreds(w, second ? 2 : 1);
    const r = await w.rotate();
    expect(r.code, r.text).toBe(0);
  }
  editor.kill('SIGTERM');
  await done;
  const result = JSON.parse(out) as { edits: number; conflicts: number; entries: Record<string, string[]> };
  console.log(
    `[reliability] concurrent editor: ${result.edits} edits (${result.conflicts} retried on 409) during 3 rotations; all kept`,
  );
  expect(result.edits).toBeGreaterThan(30);
  for (const ns of names) {
    const pulls = await pullSecretsOf(ns);
    expect(
      pulls.filter((p) => p.startsWith('editor-')),
      ns,
    ).toEqual(result.entries[ns]);
    expect(
      pulls.filter((p) => p.startsWith('regcred-')),
      ns,
    ).toHaveLength(1);
  }
});
