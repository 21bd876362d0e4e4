/**
 * Credentials are verified against the registry before rollout (issue 4): a wrong password, an unknown
 * user and a stopped registry each stop their target with nothing written, while other targets go on;
 * the Bearer flow works through our token server; a new OpenBao KV version rotates; `validate --online`
 * reports every store and registry.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kvPut } from '../helpers/openbao.ts';
import { Workspace, runCli } from '../helpers/rotator.ts';
import {
  api,
  env,
  freePort,
  managedSecrets,
  snapshotNamespaces,
  stack,
  suffix,
  testNamespaces,
  waitFor,
} from '../helpers/stack.ts';

const sfx = suffix();
const spaces = testNamespaces(`vr-${sfx}`);
const ns = (name: string) => spaces.make(name);
afterAll(spaces.cleanup);

/** A third docker-registry, started for this test and then stopped: "the registry is down". */
async function stoppedRegistry(w: Workspace): Promise<string> {
  const port = await freePort();
  const dir = join(w.dir, 'reg');
  mkdirSync(dir);
  const pki = join(stack.run, 'pki');
  writeFileSync(
    join(dir, 'config.yml'),
    `version: 0.1\nlog: { level: error }\nstorage: { filesystem: { rootdirectory: ${dir}/data } }\nhttp: { addr: 127.0.0.1:${port}, tls: { certificate: ${pki}/serving.crt, key: ${pki}/serving.key } }\nauth: { htpasswd: { realm: t, path: ${stack.run}/registry/htpasswd } }\n`,
  );
  const bin = join(stack.run, '..', 'bin', 'docker-registry');
  const child = spawn(bin, ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
  await waitFor('the extra registry', async () =>
    (await fetch(`https://127.0.0.1:${port}/v2/`)).status === 401 ? true : undefined,
  );
  child.kill('SIGTERM');
  await new Promise((r) => child.on('close', r));
  return `127.0.0.1:${port}`;
}

describe('verification before rollout', () => {
  const w = new Workspace();
  let good = '',
    wrongPw = '',
    unknown = '',
    down = '',
    bearer = '';
  beforeAll(async () => {
    good = await ns('good');
    wrongPw = await ns('wrongpw');
    unknown = await ns('unknown');
    down = await ns('down');
    bearer = await ns('bearer');
    w.cred('user', stack.user);
    w.cred('pass', stack.password);
    w.cred('bad-pass', 'not-the-password');
    w.cred('nobody', 'nobody-at-all');
    const downRegistry = await stoppedRegistry(w);
    const t = (name: string, registry: string, namespace: string, user = 'user', pass = 'pass') => ({
      name,
      store: 'local',
      registry,
      credentials: { username: { key: user }, password: { key: pass } },
      namespaces: { names: [namespace] },
    });
    w.writeConfig({
      stores: { local: { type: 'file', path: w.creds } },
      targets: [
        t('good', stack.registryBasic, good),
        t('wrong-password', stack.registryBasic, wrongPw, 'user', 'bad-pass'),
        t('unknown-user', stack.registryBasic, unknown, 'nobody', 'pass'),
        t('registry-down', downRegistry, down),
        t('bearer', stack.registryBearer, bearer),
      ],
      lock: { namespace: 'default', name: `vr-${sfx}` },
    });
  });

  it('rejected and unreachable registries stop their targets with nothing written; the others go on', async () => {
    const untouched = await snapshotNamespaces([wrongPw, unknown, down]);
    const r = await w.rotate();
    expect(r.code).toBe(1);
    const targets = Object.fromEntries(
      (r.summary?.['targets'] as { target: string; outcome: string; error?: { code: string } }[]).map((t) => [
        t.target,
        t.error?.code ?? t.outcome,
      ]),
    );
    expect(targets).toEqual({
      good: 'ok',
      'wrong-password': 'REGISTRY_REJECTED',
      'unknown-user': 'REGISTRY_REJECTED',
      'registry-down': 'REGISTRY_UNREACHABLE',
      bearer: 'ok',
    });
    expect(await snapshotNamespaces([wrongPw, unknown, down])).toBe(untouched);
    expect(await managedSecrets(good)).toHaveLength(1);
    expect(await managedSecrets(bearer)).toHaveLength(1);
    expect(r.text).toMatch(/registry .* rejected the new credentials .*no namespace was touched/);
    expect(r.text).toMatch(/is unreachable \(connection to .* refused/);
    const events = (await api().listNamespacedEvent({ namespace: 'default' })).items.filter(
      (e) => e.involvedObject.name === `vr-${sfx}`,
    );
    expect(events.filter((e) => e.reason === 'CredentialVerificationFailed')).toHaveLength(3);
  });

  it('validate --online reports every store and every registry', async () => {
    const r = await runCli(['--config', w.config, 'validate', '--online']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/store\s+local\s+ok/);
    expect(r.stdout).toMatch(
      new RegExp(`registry\\s+good ${stack.registryBasic}\\s+accepted\\s+logged in \\(Basic\\)`),
    );
    expect(r.stdout).toMatch(
      new RegExp(
        `registry\\s+bearer ${stack.registryBearer}\\s+accepted\\s+logged in \\(Bearer via ${new URL(env('REGCRED_STACK_TOKEN_SERVER')).host}\\)`,
      ),
    );
    expect(r.stdout).toMatch(/registry\s+wrong-password \S+\s+FAILED \(rejected\)/);
    expect(r.stdout).toMatch(/registry\s+registry-down \S+\s+FAILED \(unreachable\)/);
  });
});

describe('OpenBao as the store of a real rotation', () => {
  it('a new KV version rotates the namespaces', async () => {
    const a = await ns('kv');
    const path = `rollout-${sfx}`;
    await kvPut(path, { username: stack.user, password: stack.password });
    const w = new Workspace();
    w.writeConfig({
      stores: {
        bao: {
          type: 'vault',
          address: env('REGCRED_STACK_BAO_ADDR'),
          auth: { method: 'token', tokenEnv: 'BAO_TEST_TOKEN' },
        },
      },
      targets: [
        {
          name: 'kv',
          store: 'bao',
          registry: stack.registryBearer,
          credentials: { json: { key: path } },
          namespaces: { names: [a] },
        },
      ],
      rotation: { retainSuperseded: '0' },
      lock: { namespace: 'default', name: `kv-${sfx}` },
    });
    const env_ = { BAO_TEST_TOKEN: 'root' };
    const first = await w.rotate([], env_);
    expect(first.code, first.text).toBe(0);
    expect((first.summary?.['targets'] as { revision: string }[])[0]?.revision).toBe(`secret/${path}@1`);
    const [s1] = await managedSecrets(a);
    await kvPut(path, { username: stack.user2, password: stack.password2 });
    const second = await w.rotate([], env_);
    expect(second.code, second.text).toBe(0);
    expect(second.summary?.['outcomes']).toEqual({ rotated: 1 });
    const [s2] = await managedSecrets(a);
    expect(s2).not.toBe(s1);
    const sec = await api().readNamespacedSecret({ namespace: a, name: s2! });
    expect(sec.metadata?.annotations?.['regcred-rotator.io/source-revision']).toBe(`secret/${path}@2`);
  });
});
