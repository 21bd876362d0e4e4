/**
 * A registry behind a private CA, trusted through `rotation.registryCaFiles` and not through
 * NODE_EXTRA_CA_CERTS (which the rotator processes here run without): the TLS error names the registry's
 * setting (not a store's caFile), and with the CA file given the check logs in — its token service, on
 * another port behind the same CA, through the same trust.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileConfig, runCli, useCreds, Workspace } from '../helpers/rotator.ts';
import { createNamespace, deleteNamespaces, env, pullSecretsOf, stack, suffix } from '../helpers/stack.ts';

const sfx = suffix();
const ns = `rca-${sfx}`;
const noExtraCa = { NODE_EXTRA_CA_CERTS: undefined };

beforeAll(() => createNamespace(ns));
afterAll(() => deleteNamespaces([ns]));

function config(w: Workspace, registry: string, caFiles?: Record<string, string>): string {
  return fileConfig(
    w,
    { name: 'rca', registry, secretName: `rca-${sfx}`, namespaces: { names: [ns] } },
    { rotation: caFiles ? { registryCaFiles: caFiles } : {}, lock: { namespace: ns } },
  );
}

describe('rotation.registryCaFiles', () => {
  it('without it, the run stops before any write, and the message names the setting for that registry', async () => {
    const w = new Workspace();
    useCreds(w, 1);
    config(w, stack.registryBasic);
    const r = await w.rotate([], noExtraCa);
    expect(r.code).toBe(1);
    expect(r.text).toContain(
      `TLS with ${stack.registryBasic} failed (UNABLE_TO_VERIFY_LEAF_SIGNATURE): trust its CA with rotation.registryCaFiles["${stack.registryBasic}"] or NODE_EXTRA_CA_CERTS`,
    );
    expect(r.text).not.toMatch(/store's caFile/);
    expect(await pullSecretsOf(ns)).toEqual([]);
  });

  it('with the CA file, the registry check logs in and the run rolls out', async () => {
    const w = new Workspace();
    useCreds(w, 1);
    config(w, stack.registryBasic, { [stack.registryBasic]: env('REGCRED_STACK_CA') });
    const r = await w.rotate([], noExtraCa);
    expect(r.code, r.text).toBe(0);
    expect((await pullSecretsOf(ns)).some((n) => n.startsWith(`rca-${sfx}-`))).toBe(true);
  });

  it('covers the token service the registry names (Bearer flow), relative to the config file', async () => {
    const w = new Workspace();
    useCreds(w, 1);
    const { copyFileSync } = await import('node:fs');
    copyFileSync(env('REGCRED_STACK_CA'), `${w.dir}/registry-ca.crt`);
    config(w, stack.registryBearer, { [stack.registryBearer]: 'registry-ca.crt' });
    const r = await runCli(['--config', w.config, 'validate', '--online'], { env: noExtraCa });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/registry\s+rca \S+\s+accepted\s+logged in \(Bearer via/);
  });

  it('a CA file that cannot be read is a config problem naming the key', async () => {
    const w = new Workspace();
    useCreds(w, 1);
    config(w, stack.registryBasic, { [stack.registryBasic]: 'missing-ca.crt' });
    const r = await runCli(['--config', w.config, 'validate', '--online'], { env: noExtraCa });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      `rotation.registryCaFiles["${stack.registryBasic}"]: cannot read the CA file ${w.dir}/missing-ca.crt (ENOENT)`,
    );
  });
});
