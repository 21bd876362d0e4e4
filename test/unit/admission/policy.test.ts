import { describe, expect, it } from 'vitest';
import { labelSelector, policyObjects } from '../../../src/admission/policy.ts';
import { admissionSettings } from '../../../src/admission/options.ts';
import { parseSelector } from '../../../src/kube/selector.ts';
import { globToRegExp } from '../../../src/config/glob.ts';
import type { Target } from '../../../src/config/types.ts';
import type { DesiredSecret } from '../../../src/rotation/unit/types.ts';
import { Sensitive } from '../../../src/base/sensitive.ts';

function target(o: { selector?: string; names?: string[]; exclude?: string[]; name?: string }): Target {
  const t: Target = {
    name: o.name ?? 'apps',
    store: 's',
    credentials: { shape: 'json', json: { key: 'k' } },
    secretName: 'regcred',
    namespaces: { names: o.names, selector: o.selector, exclude: o.exclude ?? [] },
    serviceAccounts: ['default', 'builder'],
    strategy: 'swap',
    registries: ['r.example'],
    selector: o.selector === undefined ? undefined : parseSelector(o.selector),
    excludeRes: (o.exclude ?? []).map(globToRegExp),
  };
  return t;
}
const desired = (t = 'apps'): DesiredSecret => ({
  target: t,
  strategy: 'swap',
  name: 'regcred-0123456789',
  revisionId: '0123456789',
  revision: 'r-0123456789',
  dataB64: new Sensitive('e30='),
  annotations: {},
  serviceAccounts: ['default', 'builder'],
});

describe('labelSelector', () => {
  it('every operator a namespace selector has', () =>
    expect(labelSelector(parseSelector('a=1,b!=2,c in (x,y),d notin (z),e,!f'))).toEqual({
      matchExpressions: [
        { key: 'a', operator: 'In', values: ['1'] },
        { key: 'b', operator: 'NotIn', values: ['2'] },
        { key: 'c', operator: 'In', values: ['x', 'y'] },
        { key: 'd', operator: 'NotIn', values: ['z'] },
        { key: 'e', operator: 'Exists' },
        { key: 'f', operator: 'DoesNotExist' },
      ],
    }));
  it('none for > and <', () => expect(labelSelector(parseSelector('tier>2'))).toBeUndefined());
});

describe('policyObjects', () => {
  it('a selector target: one param (the current name, its base, its ServiceAccounts, the excludes), one binding', () => {
    const o = policyObjects(
      'inject',
      'regcred-rotator',
      [target({ selector: 'team=a', exclude: ['kube-*', 'tmp'] })],
      [desired()],
    );
    expect(o.params).toHaveLength(1);
    expect(o.params[0]).toMatchObject({
      metadata: { name: 'inject-apps', namespace: 'regcred-rotator' },
      data: {
        secretName: 'regcred-0123456789',
        secretBase: 'regcred',
        serviceAccounts: 'default,builder',
        exclude: String.raw`(^kube\-.*$)|(^tmp$)`,
      },
    });
    expect(o.bindings.map((b) => b.spec)).toEqual([
      {
        policyName: 'inject',
        paramRef: { name: 'inject-apps', namespace: 'regcred-rotator', parameterNotFoundAction: 'Allow' },
        matchResources: {
          namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'In', values: ['a'] }] },
        },
      },
    ]);
    const exclude = new RegExp(String((o.params[0]!['data'] as Record<string, string>)['exclude']));
    expect(['kube-system', 'tmp', 'tmp2', 'team-a'].filter((n) => exclude.test(n))).toEqual([
      'kube-system',
      'tmp',
    ]);
  });

  it('names and a selector: two bindings (a namespace selector cannot say "or")', () => {
    const o = policyObjects('inject', 'ns', [target({ selector: 'team=a', names: ['x', 'y'] })], [desired()]);
    expect(o.bindings.map((b) => b.metadata?.name)).toEqual(['inject-apps', 'inject-apps-names']);
    expect(o.bindings[1]?.['spec']).toMatchObject({
      matchResources: {
        namespaceSelector: {
          matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['x', 'y'] }],
        },
      },
    });
  });

  it('a target not ready this pass gets nothing (its objects stay); a selector with > is skipped with the reason', () => {
    const o = policyObjects(
      'inject',
      'ns',
      [target({ selector: 'tier>1' }), target({ name: 'later', names: ['a'] })],
      [desired()],
    );
    expect(o.params).toEqual([]);
    expect(o.skipped).toEqual([
      { target: 'apps', why: 'its selector uses > or <, which a namespace selector cannot' },
    ]);
  });
});

describe('admissionSettings', () => {
  it('nothing asked: nothing', () =>
    expect(admissionSettings({}, 'rr')).toEqual({ webhook: undefined, policy: undefined }));
  it('the policy, by default name or by its own', () => {
    expect(admissionSettings({ admissionPolicy: true }, 'rr').policy).toBe('regcred-rotator-inject');
    expect(admissionSettings({ admissionPolicy: 'mine' }, 'rr').policy).toBe('mine');
  });
  it('the webhook: [host:]port, the default host name from the namespace, short waits for a short lifetime', () => {
    const s = admissionSettings({ webhook: '10.0.0.1:8443', webhookCertValidity: '60s' }, 'rr').webhook;
    expect(s).toMatchObject({
      host: '10.0.0.1',
      port: 8443,
      hosts: ['regcred-rotator-webhook.rr.svc'],
      configuration: 'regcred-rotator',
    });
    expect(s?.timing).toMatchObject({ validityMs: 60_000, graceMs: 5000, dropAfterMs: 10_000 });
    expect(admissionSettings({ webhook: '8443' }, 'rr').webhook?.timing.validityMs).toBe(90 * 86_400_000);
  });
  it.each([['x:y'], ['70000']])('refuses --webhook %s', (w) =>
    expect(() => admissionSettings({ webhook: w }, 'rr')).toThrow(/is not \[host:\]port/),
  );
  it('refuses a lifetime under 30 s', () =>
    expect(() => admissionSettings({ webhook: '1', webhookCertValidity: '10s' }, 'rr')).toThrow(
      /at least 30s/,
    ));
});
