import { validateConfig } from '../../../src/config/load.ts';
import type { Config } from '../../../src/config/types.ts';
import { Sensitive } from '../../../src/base/sensitive.ts';
import type { VerifyResult } from '../../../src/credentials/verify.ts';
import { silentLogger } from '../../../src/base/logger.ts';
import type { SecretStore, StoreValue } from '../../../src/providers/types.ts';
import { ResultRows } from '../../../src/rotation/batch/collect.ts';
import { runRotation, type RunHooks, type RunSummary } from '../../../src/rotation/batch/run.ts';
import type { NamespaceResult } from '../../../src/rotation/unit/result.ts';
import type { FakeCluster } from './fake-cluster.ts';

/** A store at the provider seam: values and versions set by the test. */
export class FakeStore implements SecretStore {
  readonly type = 'fake';
  readonly name = 'fake';
  values = new Map<string, { value: string; version: number; updatedAt: Date }>();
  set(key: string, value: string, updatedAt = new Date()): void {
    const prev = this.values.get(key);
    this.values.set(key, { value, version: (prev?.version ?? 0) + 1, updatedAt });
  }
  async get(key: string): Promise<StoreValue> {
    const v = this.values.get(key);
    if (!v) throw new Error(`no key ${key}`);
    return {
      value: new Sensitive(v.value),
      revision: `${key}@${v.version}`,
      version: `${key}@${v.version}`,
      updatedAt: v.updatedAt,
    };
  }
  async check(): Promise<string> {
    return 'ok';
  }
  async close(): Promise<void> {}
}

export function engineConfig(
  over: Record<string, unknown> = {},
  target: Record<string, unknown> = {},
): Config {
  return validateConfig(
    {
      stores: { fake: { type: 'file', path: '/nonexistent' } },
      targets: [
        {
          name: 'acr',
          store: 'fake',
          registry: 'registry.example.com',
          credentials: { username: { key: 'user' }, password: { key: 'pass' } },
          secretName: 'regcred',
          namespaces: { names: ['ns-1', 'ns-2'] },
          serviceAccounts: ['default'],
          ...target,
        },
      ],
      rotation: {
        retainSuperseded: '0',
        settleSeconds: 0,
        ...((over['rotation'] as object | undefined) ?? {}),
      },
      ...Object.fromEntries(Object.entries(over).filter(([k]) => k !== 'rotation')),
    },
    'test.yaml',
  );
}

/** A run's summary, with the whole results (ResultRows) of the namespaces `keep` picks (all by default). */
export type TestSummary = RunSummary & { namespaces: NamespaceResult[] };

export async function run(
  cluster: FakeCluster,
  store: FakeStore,
  config: Config,
  now = () => new Date(),
  dryRun = false,
  keep?: (r: NamespaceResult) => boolean,
  hooks: RunHooks = {},
  only?: readonly string[],
): Promise<TestSummary> {
  const accepted = async (c: { registry: string }): Promise<VerifyResult> => ({
    registry: c.registry,
    outcome: 'accepted',
    flow: 'basic',
    detail: 'ok',
  });
  const rows = new ResultRows(keep);
  const s = await runRotation(
    {
      config,
      gateway: cluster,
      logger: silentLogger(),
      openStore: () => store,
      verify: accepted,
      now,
      hooks: {
        ...hooks,
        result: async (r, d) => {
          rows.add(r);
          await hooks.result?.(r, d);
        },
      },
    },
    { dryRun, only },
  );
  return { ...s, namespaces: rows.results() };
}
