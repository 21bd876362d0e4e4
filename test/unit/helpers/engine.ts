import { validateConfig } from '../../../src/config/load.ts';
import type { Config } from '../../../src/config/types.ts';
import { Sensitive } from '../../../src/base/sensitive.ts';
import type { VerifyResult } from '../../../src/credentials/verify.ts';
import { silentLogger } from '../../../src/base/logger.ts';
import type { SecretStore, StoreValue } from '../../../src/providers/types.ts';
import { runRotation, type RunOptions, type RunSummary } from '../../../src/rotation/batch/run.ts';
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

export function run(
  cluster: FakeCluster,
  store: FakeStore,
  config: Config,
  now = () => new Date(),
  dryRun = false,
  keep?: RunOptions['keep'],
): Promise<RunSummary> {
  const accepted = async (c: { registry: string }): Promise<VerifyResult> => ({
    registry: c.registry,
    outcome: 'accepted',
    flow: 'basic',
    detail: 'ok',
  });
  return runRotation(
    { config, gateway: cluster, logger: silentLogger(), openStore: () => store, verify: accepted, now },
    { dryRun, keep },
  );
}
