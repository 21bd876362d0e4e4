/**
 * KUBE-FACTS.md, checked on the real kube-apiserver + controller-manager of the stack. These are the
 * behaviours the rotator's design rests on; if an upgrade changes one, this file says which.
 */
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import {
  api,
  createNamespace,
  createPod,
  deleteNamespaces,
  kubectl,
  pullSecretsOf,
  suffix,
  waitFor,
} from '../helpers/stack.ts';

const ns = `facts-${suffix()}`;
afterAll(() => deleteNamespaces([ns]));

describe('Kubernetes facts (real API server)', () => {
  it('F11: a new namespace gets its default ServiceAccount from the controller-manager within seconds', async () => {
    const started = Date.now();
    const sa = await createNamespace(ns);
    expect(sa.metadata?.name).toBe('default');
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('F11: a deleted namespace finishes deleting through the controller-manager (its objects go first)', async () => {
    const doomed = `facts-gone-${suffix()}`;
    await createNamespace(doomed);
    await api().createNamespacedConfigMap({
      namespace: doomed,
      body: { metadata: { name: 'x' }, data: { a: 'b' } },
    });
    await api().deleteNamespace({ name: doomed });
    expect((await api().readNamespace({ name: doomed })).status?.phase).toBe('Terminating');
    await waitFor(
      'the namespace to be gone',
      () =>
        api()
          .readNamespace({ name: doomed })
          .then(
            () => undefined,
            () => true,
          ),
      60_000,
    );
  });

  it('F1: a strategic-merge patch of imagePullSecrets replaces the whole list', async () => {
    await api().patchNamespacedServiceAccount(
      {
        namespace: ns,
        name: 'default',
        body: { imagePullSecrets: [{ name: 'team-a' }, { name: 'team-b' }] },
      },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    expect(await pullSecretsOf(ns)).toEqual(['team-a', 'team-b']);
    // What the seed recipe's `kubectl patch sa default -p '{"imagePullSecrets":[{"name":"regcred"}]}'` does:
    await api().patchNamespacedServiceAccount(
      { namespace: ns, name: 'default', body: { imagePullSecrets: [{ name: 'regcred' }] } },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    expect(await pullSecretsOf(ns)).toEqual(['regcred']);
  });

  it('F1: a replace with a stale resourceVersion gets 409 Conflict', async () => {
    const sa = await api().readNamespacedServiceAccount({ namespace: ns, name: 'default' });
    const stale = sa.metadata?.resourceVersion;
    await api().replaceNamespacedServiceAccount({
      namespace: ns,
      name: 'default',
      body: { ...sa, imagePullSecrets: [{ name: 'x' }] },
    });
    const err = await api()
      .replaceNamespacedServiceAccount({
        namespace: ns,
        name: 'default',
        body: {
          ...sa,
          metadata: { ...sa.metadata, resourceVersion: stale },
          imagePullSecrets: [{ name: 'y' }],
        },
      })
      .catch((e: unknown) => e);
    expect((err as { code?: number }).code).toBe(409);
    expect(await pullSecretsOf(ns)).toEqual(['x']);
  });

  it('F1: a merge patch carrying metadata.resourceVersion is conditional too (what the rotator uses)', async () => {
    const sa = await api().readNamespacedServiceAccount({ namespace: ns, name: 'default' });
    const body = {
      metadata: { resourceVersion: sa.metadata?.resourceVersion },
      imagePullSecrets: [{ name: 'x' }, { name: 'z' }],
    };
    await api().patchNamespacedServiceAccount(
      { namespace: ns, name: 'default', body },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const err = await api()
      .patchNamespacedServiceAccount(
        { namespace: ns, name: 'default', body },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      )
      .catch((e: unknown) => e);
    expect((err as { code?: number }).code).toBe(409);
  });

  it('F2: a pod created under a ServiceAccount gets its pull secrets copied into its spec, and keeps them', async () => {
    await api().patchNamespacedServiceAccount(
      { namespace: ns, name: 'default', body: { imagePullSecrets: [{ name: 'old-secret' }] } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(await createPod(ns, 'app-1')).toEqual(['old-secret']);
    await api().patchNamespacedServiceAccount(
      { namespace: ns, name: 'default', body: { imagePullSecrets: [{ name: 'new-secret' }] } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const pod = await api().readNamespacedPod({ namespace: ns, name: 'app-1' });
    expect(pod.spec?.imagePullSecrets?.map((r) => r.name)).toEqual(['old-secret']);
    // A pod that lists its own pull secrets does not get the SA's.
    const own = await api().createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'app-2' },
        spec: { imagePullSecrets: [{ name: 'mine' }], containers: [{ name: 'a', image: 'x' }] },
      },
    });
    expect(own.spec?.imagePullSecrets?.map((r) => r.name)).toEqual(['mine']);
  });

  it('F7: the API server accepts {} and {"auths":"a string"} as .dockerconfigjson — the rotator must validate', async () => {
    for (const [name, doc] of [
      ['empty-doc', '{}'],
      ['auths-string', '{"auths":"a string"}'],
    ] as const) {
      const s = await api().createNamespacedSecret({
        namespace: ns,
        body: {
          metadata: { name },
          type: 'kubernetes.io/dockerconfigjson',
          data: { '.dockerconfigjson': Buffer.from(doc).toString('base64') },
        },
      });
      expect(s.metadata?.name).toBe(name);
    }
    const bad = await api()
      .createNamespacedSecret({
        namespace: ns,
        body: {
          metadata: { name: 'not-json' },
          type: 'kubernetes.io/dockerconfigjson',
          data: { '.dockerconfigjson': Buffer.from('nope').toString('base64') },
        },
      })
      .catch((e: unknown) => e);
    expect((bad as { code?: number }).code).toBe(422);
  });

  it('F7: type is immutable', async () => {
    const s = await api().readNamespacedSecret({ namespace: ns, name: 'empty-doc' });
    const err = await api()
      .replaceNamespacedSecret({ namespace: ns, name: 'empty-doc', body: { ...s, type: 'Opaque' } })
      .catch((e: unknown) => e);
    expect((err as { code?: number }).code).toBe(422);
  });

  it('F6: kubectl create secret docker-registry defaults the server key to https://index.docker.io/v1/, auth = base64(user:pass)', async () => {
    const r = kubectl(
      '-n',
      ns,
      'create',
      'secret',
      'docker-registry',
      'kubectl-made',
      '--docker-username=robot',
      '--docker-password=pa:ss',
    );
    expect(r.code, r.stderr).toBe(0);
    const s = await api().readNamespacedSecret({ namespace: ns, name: 'kubectl-made' });
    const doc = JSON.parse(Buffer.from(s.data?.['.dockerconfigjson'] ?? '', 'base64').toString()) as {
      auths: Record<string, { auth: string }>;
    };
    expect(Object.keys(doc.auths)).toEqual(['https://index.docker.io/v1/']);
    expect(Buffer.from(doc.auths['https://index.docker.io/v1/']?.auth ?? '', 'base64').toString()).toBe(
      'robot:pa:ss',
    );
  });

  it('F9: a create carrying metadata.resourceVersion is rejected (as a 500, not a 4xx)', async () => {
    const err = await api()
      .createNamespacedSecret({
        namespace: ns,
        body: { metadata: { name: 'copied', resourceVersion: '12345' }, type: 'Opaque', data: {} },
      })
      .catch((e: unknown) => e);
    // The storage layer rejects it, so it surfaces as an internal error; a client that copies objects must strip it.
    expect((err as { code?: number }).code).toBe(500);
    expect(String((err as { body?: unknown }).body)).toMatch(
      /resourceVersion should not be set on objects to be created/,
    );
  });
});
