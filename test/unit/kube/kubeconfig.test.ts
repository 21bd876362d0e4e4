import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Authenticator } from '../../../src/kube/auth.ts';
import { loadClusterAccess } from '../../../src/kube/kubeconfig.ts';

const saved = process.env['KUBECONFIG'];
afterEach(() => {
  if (saved === undefined) Reflect.deleteProperty(process.env, 'KUBECONFIG');
  else process.env['KUBECONFIG'] = saved;
});

const dir = () => mkdtempSync(join(tmpdir(), 'kc-'));
function kubeconfig(d: string, name: string, body: string): string {
  const f = join(d, name);
  writeFileSync(f, body);
  return f;
}
const CLUSTER = (server: string, extra = '') =>
  `clusters:\n- name: c\n  cluster:\n    server: ${server}\n${extra}`;

describe('kubeconfig loading', () => {
  it('resolves the current context: server, CA and client certificate relative to the file', () => {
    const d = dir();
    writeFileSync(join(d, 'ca.pem'), 'CA');
    writeFileSync(join(d, 'me.crt'), 'CERT');
    writeFileSync(join(d, 'me.key'), 'KEY');
    const f = kubeconfig(
      d,
      'config',
      `${CLUSTER('https://k.example:6443/', '    certificate-authority: ca.pem\n')}users:\n- name: u\n  user:\n    client-certificate: me.crt\n    client-key: me.key\ncontexts:\n- name: x\n  context: { cluster: c, user: u }\ncurrent-context: x\n`,
    );
    const a = loadClusterAccess({ kubeconfig: f });
    expect(a.server).toBe('https://k.example:6443');
    expect([a.ca?.toString(), a.cert?.toString(), a.key?.toString()]).toEqual(['CA', 'CERT', 'KEY']);
    expect(a.credentials).toEqual({ kind: 'none' });
  });

  it("takes a cluster's http(s) proxy-url, and refuses a socks5 one rather than going direct", () => {
    const d = dir();
    const ctx = 'contexts:\n- name: x\n  context: { cluster: c }\ncurrent-context: x\n';
    const ok = kubeconfig(
      d,
      'ok',
      `${CLUSTER('https://k', '    proxy-url: http://proxy.corp:3128\n')}${ctx}`,
    );
    expect(loadClusterAccess({ kubeconfig: ok }).proxyUrl).toBe('http://proxy.corp:3128');
    const socks = kubeconfig(
      d,
      'socks',
      `${CLUSTER('https://k', '    proxy-url: socks5://u:pw@p:1080\n')}${ctx}`,
    );
    expect(() => loadClusterAccess({ kubeconfig: socks })).toThrow(
      /proxy-url "socks5:\/\/p:1080" is not an http:\/\/ or https:\/\/ proxy/,
    );
  });

  it('merges KUBECONFIG like kubectl: the first file to name an entry or a current-context wins', () => {
    const d = dir();
    const a = kubeconfig(
      d,
      'a',
      `${CLUSTER('https://first')}contexts:\n- name: x\n  context: { cluster: c }\n`,
    );
    const b = kubeconfig(
      d,
      'b',
      `${CLUSTER('https://second')}users:\n- name: u\n  user: { token: abc }\ncontexts:\n- name: x\n  context: { cluster: c, user: u }\n- name: y\n  context: { cluster: c, user: u }\ncurrent-context: y\n`,
    );
    process.env['KUBECONFIG'] = `${a}:${b}`;
    const got = loadClusterAccess({});
    expect(got.server).toBe('https://first');
    expect(got.credentials).toEqual({ kind: 'token', token: 'abc' });
    expect(got.source).toBe(`KUBECONFIG (${a}:${b})`);
  });

  it('names an unknown context, a context without a server, and a legacy auth-provider', () => {
    const d = dir();
    const f = kubeconfig(
      d,
      'c',
      `${CLUSTER('https://k')}contexts:\n- name: x\n  context: { cluster: c }\n- name: nowhere\n  context: { cluster: gone }\n`,
    );
    expect(() => loadClusterAccess({ kubeconfig: f, context: 'zzz' })).toThrow(
      /--context zzz: no such context .*\(contexts: x, nowhere\)/,
    );
    expect(() => loadClusterAccess({ kubeconfig: f, context: 'nowhere' })).toThrow(
      /current context "nowhere" names no cluster with a server/,
    );
    const g = kubeconfig(
      d,
      'g',
      `${CLUSTER('https://k')}users:\n- name: u\n  user:\n    auth-provider: { name: gcp }\ncontexts:\n- name: x\n  context: { cluster: c, user: u }\ncurrent-context: x\n`,
    );
    expect(() => loadClusterAccess({ kubeconfig: g })).toThrow(
      /auth-provider "gcp" is no longer supported.*exec credential plugin/,
    );
  });
});

describe('credentials', () => {
  it('a token file is re-read once it may have rotated', async () => {
    const d = dir();
    writeFileSync(join(d, 'token'), 'first\n');
    const auth = new Authenticator({
      source: 't',
      server: 'https://k',
      insecureSkipTlsVerify: false,
      credentials: { kind: 'token-file', path: join(d, 'token') },
    });
    expect((await auth.resolve()).authorization).toBe('Bearer first');
    writeFileSync(join(d, 'token'), 'second\n');
    auth.invalidate();
    expect((await auth.resolve()).authorization).toBe('Bearer second');
  });

  it('an exec plugin (ExecCredential): its token, cached until it expires; a missing plugin is named', async () => {
    const d = dir();
    const script = join(d, 'plugin.sh');
    writeFileSync(
      script,
      `#!/bin/sh\necho "$KUBERNETES_EXEC_INFO" > ${d}/info\necho run >> ${d}/runs\nprintf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"from-plugin-%s","expirationTimestamp":"2999-01-01T00:00:00Z"}}' "$PLUGIN_ARG"\n`,
    );
    chmodSync(script, 0o755);
    const exec = {
      command: script,
      args: [],
      env: [{ name: 'PLUGIN_ARG', value: 'x' }],
      apiVersion: 'client.authentication.k8s.io/v1',
      provideClusterInfo: true,
    };
    const auth = new Authenticator({
      source: 't',
      server: 'https://k',
      insecureSkipTlsVerify: false,
      credentials: { kind: 'exec', exec },
    });
    expect((await auth.resolve()).authorization).toBe('Bearer from-plugin-x');
    await auth.resolve();
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(join(d, 'runs'), 'utf8').trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(readFileSync(join(d, 'info'), 'utf8'))).toMatchObject({
      kind: 'ExecCredential',
      spec: { interactive: false, cluster: { server: 'https://k' } },
    });
    const missing = new Authenticator({
      source: 't',
      server: 'https://k',
      insecureSkipTlsVerify: false,
      credentials: { kind: 'exec', exec: { ...exec, command: 'no-such-plugin-xyz' } },
    });
    await expect(missing.resolve()).rejects.toThrow(
      /credential plugin "no-such-plugin-xyz" is not installed/,
    );
  });
});
