/**
 * Messages that name the real cause, as an operator meets them from the CLI: a kubeconfig whose exec
 * credential plugin is not installed or fails (its own words shown, as kubectl shows them), and config
 * files with a wrong type, a typo and several problems at once (all reported in one go, exit 2, nothing
 * contacted). The proxy cases are in proxy.test.ts.
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileConfig, runCli, useCreds, Workspace } from '../helpers/rotator.ts';
import { createNamespace, deleteNamespaces, env, pullSecretsOf, stack, suffix } from '../helpers/stack.ts';

const sfx = suffix();
const ns = `ce-${sfx}`;

beforeAll(() => createNamespace(ns));
afterAll(() => deleteNamespaces([ns]));

/** A kubeconfig for the stack whose user authenticates through an exec plugin. */
function execKubeconfig(dir: string, command: string): string {
  const f = join(dir, 'exec.kubeconfig');
  writeFileSync(
    f,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{ name: s, cluster: { server: "${env('REGCRED_STACK_APISERVER')}", certificate-authority: "${env('REGCRED_STACK_CA')}" } }]`,
      `users: [{ name: u, user: { exec: { apiVersion: client.authentication.k8s.io/v1, command: "${command}", interactiveMode: Never } } }]`,
      'contexts: [{ name: c, context: { cluster: s, user: u } }]',
      'current-context: c',
      '',
    ].join('\n'),
  );
  return f;
}

function plugin(dir: string, name: string, script: string): string {
  const f = join(dir, name);
  writeFileSync(f, `#!/bin/sh\n${script}\n`);
  chmodSync(f, 0o755);
  return f;
}

function workspace(): Workspace {
  const w = new Workspace();
  useCreds(w, 1);
  fileConfig(
    w,
    { name: 'ce', secretName: `ce-${sfx}`, namespaces: { names: [ns] } },
    { lock: { namespace: ns } },
  );
  return w;
}

describe('a kubeconfig with an exec credential plugin', () => {
  it('not installed: the message says so, not "cannot reach the API server"', async () => {
    const w = workspace();
    const r = await w.rotate(['--kubeconfig', execKubeconfig(w.dir, 'no-such-plugin')]);
    expect(r.code).toBe(1);
    expect(r.text).toContain(
      `the kubeconfig's credential plugin "no-such-plugin" is not installed (not on PATH): install it, or use a kubeconfig without it`,
    );
    expect(r.text).not.toMatch(/cannot reach the API server/);
  });

  it('failing: its own message is shown', async () => {
    const w = workspace();
    const cmd = plugin(
      w.dir,
      'corp-login',
      'echo "error: your session expired; run corp-login --renew" >&2; exit 3',
    );
    const r = await w.rotate(['--kubeconfig', execKubeconfig(w.dir, cmd)]);
    expect(r.code).toBe(1);
    expect(r.text).toContain(
      `the kubeconfig's credential plugin "${cmd}" failed (exit 3): error: your session expired; run corp-login --renew`,
    );
  });

  it('working: its token is used (the run completes)', async () => {
    const w = workspace();
    const status = JSON.stringify({
      apiVersion: 'client.authentication.k8s.io/v1',
      kind: 'ExecCredential',
      status: { token: env('REGCRED_STACK_ADMIN_TOKEN') },
    });
    const cmd = plugin(w.dir, 'good-login', `echo '${status}'`);
    const r = await w.rotate(['--kubeconfig', execKubeconfig(w.dir, cmd)]);
    expect(r.code, r.text).toBe(0);
    expect((await pullSecretsOf(ns)).some((n) => n.startsWith(`ce-${sfx}-`))).toBe(true);
  });
});

describe('config problems', () => {
  it('all at once: a wrong type, a typo with its suggestion, a rule, a bad value — exit 2', async () => {
    const w = new Workspace();
    w.writeConfig({
      stores: { local: { type: 'file', path: w.creds } },
      targets: [
        {
          name: 'ce',
          store: 'local',
          registry: stack.registryBasic,
          credentials: { username: { key: 'user' }, password: { key: 'pass' } },
          namepsaces: { names: [ns] },
          serviceAccounts: 'default',
        },
        {
          name: 'ce',
          store: 'elsewhere',
          registry: stack.registryBasic,
          credentials: { json: { key: 'j' } },
          namespaces: { names: [ns] },
        },
      ],
      policy: { maxAgeDays: 30, warnAgeDays: 40 },
    });
    const r = await runCli(['--config', w.config, 'validate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${w.config}: 5 problems`);
    for (const line of [
      'targets[0]: unknown key `namepsaces`; did you mean `namespaces`?',
      'targets[0].namespaces: required',
      'targets[0].serviceAccounts: expected a list of names, got a string',
      'targets[1].store: no store named "elsewhere" (stores: local)',
      'policy.warnAgeDays: must be less than maxAgeDays (30)',
    ])
      expect(r.stderr).toContain(`  ${line}\n`);
  });
});
