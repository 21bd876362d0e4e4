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

it('every add and remove of the other writer survives the rotations it races with (at least three)', async () => {
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
  const editsSoFar = () => out.split('\n').filter((l) => l.startsWith('edits ')).length;
  // At least three rotations, and on until the editor has made 30 edits while they ran: how many
  // rotations that takes depends on how fast they are, not on what the test proves.
  let rotations = 0;
  const firstEdits = editsSoFar();
  while (rotations < 3 || (editsSoFar() - firstEdits <= 30 && rotations < 12)) {
    useCreds(w, rotations % 2 === 1 ? 2 : 1);
    const r = await w.rotate();
    expect(r.code, r.text).toBe(0);
    rotations++;
  }
  const during = editsSoFar() - firstEdits;
  editor.kill('SIGTERM');
  await done;
  const final = out.trim().split('\n').at(-1) ?? '';
  const result = JSON.parse(final) as { edits: number; conflicts: number; entries: Record<string, string[]> };
  console.log(
    `[reliability] concurrent editor: ${during} edits (${result.edits} in all, ${result.conflicts} retried on 409) during ${rotations} rotations; all kept`,
  );
  expect(during).toBeGreaterThan(30);
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
