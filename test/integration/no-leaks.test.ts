/**
 * I5: a full provision + rotation at debug log level, then a failing run: no password, `auth` value or
 * token may appear in stdout, stderr, argv, or the Events of the namespaces involved.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Workspace, runCli } from '../helpers/rotator.ts';
import { api, createNamespace, deleteNamespaces, stack, suffix } from '../helpers/stack.ts';

const sfx = suffix();
const nsName = `leak-${sfx}`;
afterAll(() => deleteNamespaces([nsName]));

describe('no secret leaks (I5)', () => {
  const w = new Workspace();
  const secrets = () => {
    const forms = new Set<string>();
    for (const [u, p] of [
      [stack.user, stack.password],
      [stack.user2, stack.password2],
    ] as const) {
      forms.add(p);
      forms.add(Buffer.from(`${u}:${p}`).toString('base64'));
      forms.add(Buffer.from(p).toString('base64'));
    }
    return [...forms];
  };
  beforeAll(async () => {
    await createNamespace(nsName);
    w.writeConfig({
      stores: { local: { type: 'file', path: w.creds } },
      targets: [
        {
          name: 'basic',
          store: 'local',
          registry: stack.registryBasic,
          credentials: { username: { key: 'user' }, password: { key: 'pass' } },
          namespaces: { names: [nsName] },
        },
        {
          name: 'bearer',
          store: 'local',
          registry: stack.registryBearer,
          credentials: { username: { key: 'user' }, password: { key: 'pass' } },
          namespaces: { names: [nsName] },
        },
      ],
      rotation: { retainSuperseded: '0' },
      lock: { namespace: 'default' },
    });
  });

  it('nothing secret in stdout, stderr, argv or Events at debug level, across success and failure', async () => {
    let argv = '';
    const outputs: string[] = [];
    const go = async (args: string[]) => {
      const r = await runCli(
        ['--config', w.config, '--log-format', 'json', '--log-level', 'debug', ...args],
        {
          onSpawn: (pid) => {
            try {
              argv += readFileSync(`/proc/${pid}/cmdline`, 'utf8');
            } catch {
              /* already gone */
            }
          },
        },
      );
      outputs.push(r.stdout, r.stderr);
      return r;
    };
    w.cred('user', stack.user);
    w.cred('pass', stack.password);
    expect((await go(['--rotate-now'])).code).toBe(0);
    w.cred('user', stack.user2);
    w.cred('pass', stack.password2);
    expect((await go(['--rotate-now'])).code).toBe(0);
    await go(['plan']);
    await go(['status', '-o', 'json']);
    await go(['validate', '--online']);
    // A rejected credential: the registry says no, the message must still not carry the password.
    w.cred('pass', `${stack.password2}-wrong`);
    expect((await go(['--rotate-now'])).code).toBe(1);
    const events = await api().listNamespacedEvent({ namespace: nsName });
    const haystack = [...outputs, argv, JSON.stringify(events.items)].join('\n');
    expect(haystack.length).toBeGreaterThan(1000);
    expect(haystack).toContain('registry verification');
    for (const s of [...secrets(), `${stack.password2}-wrong`])
      expect(haystack.includes(s), `leaked a secret form of length ${s.length}`).toBe(false);
  });
});
