import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/base/logger.ts';
import { K8sGateway } from '../../../src/kube/k8s-gateway.ts';
import { KubeHttpError, type KubeRest, type RequestSpec } from '../../../src/kube/rest.ts';

/**
 * What the API server answers when a list continuation outlived its snapshot (compacted): 410 with a
 * token that continues from a newer one. Reproducing the compaction on a real server is not reliable (the
 * watch cache may still serve the old snapshot), so this replays the documented answer at our REST seam.
 */
const expired = (next: string | undefined) =>
  new KubeHttpError(
    410,
    JSON.stringify({
      kind: 'Status',
      reason: 'Expired',
      message: 'The provided continue parameter is too old to display a consistent list result.',
      metadata: next ? { continue: next } : {},
    }),
    {},
  );

const sa = (ns: string) => ({
  metadata: { namespace: ns, name: 'default', uid: `u-${ns}`, resourceVersion: '1' },
});

function gatewayAnswering(answers: ((spec: RequestSpec) => unknown)[]): {
  g: K8sGateway;
  asked: RequestSpec[];
} {
  const asked: RequestSpec[] = [];
  const json = async (spec: RequestSpec) => {
    asked.push(spec);
    const a = answers.shift();
    if (!a) throw new Error('unexpected request');
    return a(spec);
  };
  // A list's page hands over its items one by one, then the rest of the answer (as KubeRest.list does).
  const list = async (spec: RequestSpec, onItem: (item: unknown) => void) => {
    const page = (await json(spec)) as { items?: unknown[] };
    for (const item of page.items ?? []) onItem(item);
    return { ...page, items: [] };
  };
  const rest = { json, list } as unknown as KubeRest;
  return { g: new K8sGateway(rest, silentLogger()), asked };
}

describe('list pages', () => {
  const scope = Array.from({ length: 60 }, (_, i) => `ns-${i}`);

  it('an expired continuation goes on with the token the 410 carries', async () => {
    const { g, asked } = gatewayAnswering([
      () => ({ items: [sa('ns-1')], metadata: { continue: 'c1' } }),
      () => {
        throw expired('c1-fresh');
      },
      () => ({ items: [sa('ns-2')], metadata: {} }),
    ]);
    const seen: string[] = [];
    for await (const c of g.chunks('serviceaccounts', scope)) seen.push(...c.items.map((i) => i.namespace));
    expect(seen).toEqual(['ns-1', 'ns-2']);
    expect(asked.map((a) => a.query?.['continue'])).toEqual([undefined, 'c1', 'c1-fresh']);
  });

  it('an expired continuation without a new token fails the list, once (no blind retries)', async () => {
    const { g, asked } = gatewayAnswering([
      () => ({ items: [sa('ns-1')], metadata: { continue: 'c1' } }),
      () => {
        throw expired(undefined);
      },
    ]);
    const read = async () => {
      for await (const c of g.chunks('serviceaccounts', scope)) expect(c.items).toHaveLength(1);
    };
    await expect(read()).rejects.toMatchObject({ code: 'KUBE_CONFLICT' });
    expect(asked).toHaveLength(2);
  });
});
