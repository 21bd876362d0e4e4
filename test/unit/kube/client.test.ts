import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { loadClusterAccess } from '../../../src/kube/kubeconfig.ts';

const saved = {
  HOME: process.env['HOME'],
  KUBECONFIG: process.env['KUBECONFIG'],
  KUBERNETES_SERVICE_HOST: process.env['KUBERNETES_SERVICE_HOST'],
};
afterEach(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) Reflect.deleteProperty(process.env, k);
    else process.env[k] = v;
  }
});
function nowhere(): void {
  process.env['HOME'] = mkdtempSync(join(tmpdir(), 'home-'));
  Reflect.deleteProperty(process.env, 'KUBECONFIG');
  Reflect.deleteProperty(process.env, 'KUBERNETES_SERVICE_HOST');
}

describe('cluster access (F12)', () => {
  it('client-node alone silently falls back to http://localhost:8080 when nothing is configured', () => {
    nowhere();
    const kc = new KubeConfig();
    kc.loadFromDefault();
    expect(kc.getCurrentCluster()?.server).toBe('http://localhost:8080');
  });
  it('the rotator refuses that fallback with a clear message', () => {
    nowhere();
    expect(() => loadClusterAccess({})).toThrow(
      /no Kubernetes cluster configured: pass --kubeconfig, set KUBECONFIG, create ~\/\.kube\/config, or run in a pod \(client libraries would silently use http:\/\/localhost:8080; the rotator refuses to\)/,
    );
  });
  it('a missing --kubeconfig file and an unknown --context are named', () => {
    nowhere();
    expect(() => loadClusterAccess({ kubeconfig: '/nonexistent/kubeconfig' })).toThrow(
      /--kubeconfig \/nonexistent\/kubeconfig: no such file/,
    );
    process.env['KUBECONFIG'] = '/nonexistent/a:/nonexistent/b';
    expect(() => loadClusterAccess({})).toThrow(
      /KUBECONFIG names \/nonexistent\/a, \/nonexistent\/b, but none of these files exists/,
    );
  });
});
