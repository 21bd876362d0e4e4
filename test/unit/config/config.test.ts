import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadConfig, validateConfig } from '../../../src/config/load.ts';
import { ConfigError } from '../../../src/errors.ts';

const problems = (doc: unknown): string[] => {
  try {
    validateConfig(doc, 'c.yaml');
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.map((p) => `${p.path}: ${p.message}`);
    throw e;
  }
  return [];
};

const base = () => ({
  stores: { local: { type: 'file', path: './creds' } },
  targets: [
    {
      name: 'acr',
      store: 'local',
      registry: 'r.example.com',
      credentials: { username: { key: 'u' }, password: { key: 'p' } },
      namespaces: { names: ['a'] },
    },
  ],
});

describe('config.example.yaml', () => {
  it('parses, and documents every key of the schema', () => {
    const c = loadConfig('config.example.yaml');
    expect(c.targets.map((t) => t.name)).toEqual(['acr', 'team-registry', 'local-dev']);
    expect(c.rotation.retainSupersededMs).toBe(24 * 3600 * 1000);
    const raw = parse(readFileSync('config.example.yaml', 'utf8')) as Record<string, Record<string, unknown>>;
    for (const k of [
      'verifyCredentials',
      'retainSuperseded',
      'waitForPods',
      'refreshSuperseded',
      'concurrency',
      'insecureRegistries',
      'emitEvents',
    ])
      expect(raw['rotation']).toHaveProperty(k);
    for (const k of ['port', 'pushgateway', 'job']) expect(raw['metrics']).toHaveProperty(k);
    for (const k of ['namespace', 'name', 'leaseDurationSeconds']) expect(raw['lock']).toHaveProperty(k);
    expect(raw).toHaveProperty('timeZone');
    expect(raw).toHaveProperty('schedule');
  });
});

describe('config validation', () => {
  it('fills defaults', () => {
    const c = validateConfig(base(), 'c.yaml');
    expect(c.targets[0]).toMatchObject({
      secretName: 'regcred-acr',
      serviceAccounts: ['default'],
      strategy: 'swap',
    });
    expect(c.policy).toEqual({ maxAgeDays: 90, warnAgeDays: 75 });
    expect(c.rotation).toMatchObject({
      verifyCredentials: true,
      retainSupersededMs: 86_400_000,
      waitForPods: true,
      concurrency: 16,
    });
    expect(c.schedule.text).toBe('0 3 * * *');
  });

  it('reports every problem at once, each with its dotted path', () => {
    const doc = base() as Record<string, unknown>;
    const t = (doc['targets'] as Record<string, unknown>[])[0]!;
    Object.assign(t, {
      store: 'nope',
      colour: 'blue',
      namespaces: { selector: 'team in (a,', exclude: ['Bad_Glob'] },
    });
    (doc['targets'] as unknown[]).push({ ...t, store: 'local', namespaces: { names: ['b'] } });
    doc['policy'] = { maxAgeDays: 30, warnAgeDays: 60 };
    doc['schedule'] = '61 * * * *';
    const got = problems(doc);
    expect(got).toContain('targets[0].colour: unknown key');
    expect(got).toContain('targets[1].colour: unknown key');
    expect(got.length).toBe(2); // schema errors come first; rules run once the shape is right
    delete t['colour'];
    delete (doc['targets'] as Record<string, unknown>[])[1]!['colour'];
    const rules = problems(doc);
    expect(rules).toEqual(
      expect.arrayContaining([
        'targets[0].store: no store named "nope" (stores: local)',
        'targets[0].namespaces.selector: bad label selector: unbalanced "("',
        expect.stringMatching(/^targets\[0\]\.namespaces\.exclude\[0\]: "Bad_Glob" is not a namespace glob/),
        'targets[1].name: duplicate target name "acr" (also targets[0])',
        'targets[1].secretName: secret name "regcred-acr" is already used by target "acr"',
        'policy.warnAgeDays: must be less than maxAgeDays (30)',
        expect.stringMatching(/^schedule: "61 \* \* \* \*" is not a valid cron expression/),
      ]),
    );
  });

  it.each([
    [{ stores: {}, targets: [] }, 'targets: at least one target is needed'],
    [
      { ...base(), stores: { x: { type: 'etcd' } } },
      'stores.x.type: must be one of: file, vault, azure-key-vault',
    ],
    [
      { ...base(), stores: { x: { type: 'vault', address: 'not a url' } } },
      'stores.x.address: address must be a URL such as https://vault.example.com:8200',
    ],
    [
      { ...base(), stores: { x: { type: 'vault', address: 'https://v', auth: { method: 'ldap' } } } },
      'stores.x.auth.method: must be one of: token, approle, kubernetes',
    ],
    [
      { ...base(), targets: [{ ...base().targets[0], credentials: {} }] },
      'targets[0].credentials: give one of: username + password, json, dockerconfigjson',
    ],
    [
      {
        ...base(),
        targets: [
          { ...base().targets[0], credentials: { json: { key: 'a' }, dockerconfigjson: { key: 'b' } } },
        ],
      },
      'targets[0].credentials: give only one shape, not json and dockerconfigjson',
    ],
    [
      { ...base(), targets: [{ ...base().targets[0], name: 'Not_A_Label' }] },
      'targets[0].name: name must be a DNS label (lower-case letters, digits and "-")',
    ],
    [
      { ...base(), targets: [{ ...base().targets[0], namespaces: {} }] },
      'targets[0].namespaces: give `names`, a `selector`, or both',
    ],
    [
      { ...base(), targets: [{ ...base().targets[0], registry: undefined }] },
      'targets[0].registry: required (the key under "auths", e.g. myregistry.azurecr.io)',
    ],
    [
      { ...base(), targets: [{ ...base().targets[0], registry: 'has space.example' }] },
      'targets[0].registry: registry "has space.example" contains whitespace',
    ],
    [
      { ...base(), targets: [{ ...base().targets[0], serviceAccounts: ['*', 'default'] }] },
      'targets[0].serviceAccounts: "*" means every ServiceAccount; do not combine it with names',
    ],
    [
      { ...base(), targets: [{ ...base().targets[0], strategy: 'recreate' }] },
      expect.stringMatching(/^targets\[0\]\.strategy: /),
    ],
    [
      { ...base(), rotation: { retainSuperseded: 'a day' } },
      'rotation.retainSuperseded: "a day" is not a duration (e.g. 24h, 90m, 7d, 0)',
    ],
    [{ ...base(), rotation: { concurrency: 0 } }, expect.stringMatching(/^rotation\.concurrency: /)],
    [
      { ...base(), timeZone: 'Mars/Olympus' },
      'timeZone: "Mars/Olympus" is not an IANA time zone (e.g. Europe/Berlin, UTC)',
    ],
    [
      { ...base(), metrics: { pushgateway: 'ftp://x' } },
      'metrics.pushgateway: "ftp://x" is not an http(s) URL',
    ],
  ])('%# rejects with a path: %j', (doc, want) => {
    expect(problems(doc)).toContainEqual(want);
  });

  it('reports YAML syntax errors with a line and duplicate keys', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const f = join(dir, 'c.yaml');
    writeFileSync(f, 'stores:\n  a: {type: file, path: x}\n  a: {type: file, path: y}\n');
    expect(() => loadConfig(f)).toThrow(/line 3: YAML: Map keys must be unique/);
    writeFileSync(f, 'stores: [\n');
    expect(() => loadConfig(f)).toThrow(/YAML/);
    expect(() => loadConfig(join(dir, 'missing.yaml'))).toThrow(/no such file/);
  });
});

describe('targets that mint their credential (issuer)', () => {
  const gitea = {
    type: 'gitea-token',
    url: 'https://gitea.example.com',
    user: 'puller',
    login: { username: 'puller', password: { key: 'gitea/manage' } },
  };
  const withIssuer = (
    over: Record<string, unknown>,
    store: Record<string, unknown> = { type: 'vault', address: 'https://v.example' },
  ) => ({
    ...base(),
    stores: { local: store },
    targets: [{ ...base().targets[0], credentials: { json: { key: 'app/pull' } }, issuer: gitea, ...over }],
  });
  const problems = (doc: unknown) => {
    try {
      validateConfig(doc, 'c.yaml');
      return [];
    } catch (e) {
      return (e as ConfigError).problems.map((p) => `${p.path}: ${p.message}`);
    }
  };

  it('fills the lifecycle defaults: rotate after two thirds of maxAgeDays', () => {
    const t = validateConfig(withIssuer({}), 'c.yaml').targets[0];
    expect(t?.issuer).toMatchObject({
      type: 'gitea-token',
      rotateAfterDays: 60,
      orphanGraceMinutes: 15,
      verifyTimeoutSeconds: 120,
    });
  });

  it('needs a store it can write, one version per credential, and a rotation before the limit', () => {
    expect(problems(withIssuer({}, { type: 'file', path: '.' }))).toEqual([
      'targets[0].issuer: store "local" (file) cannot be written; an issuer stores each new credential in a vault or azure-key-vault store',
    ]);
    expect(problems(withIssuer({ credentials: { username: { key: 'u' }, password: { key: 'p' } } }))).toEqual(
      [
        expect.stringMatching(
          /^targets\[0\]\.credentials: an issuer writes the credential as one store version/,
        ),
      ],
    );
    expect(
      problems(withIssuer({ credentials: { username: { key: 'app#u' }, password: { key: 'app#p' } } })),
    ).toEqual([]);
    expect(problems(withIssuer({ issuer: { ...gitea, rotateAfterDays: 90 } }))).toEqual([
      'targets[0].issuer.rotateAfterDays: must be less than policy.maxAgeDays (90): a credential would reach the limit before it is rotated',
    ]);
    expect(problems(withIssuer({ issuer: { ...gitea, type: 'quay-robot' } }))).toEqual([
      'targets[0].issuer.type: must be one of: acr-token, gitea-token, harbor-robot',
    ]);
  });
});

describe('fleet: the cluster id from the environment', () => {
  const fleet = (over: Record<string, unknown> = {}) => ({
    ...base(),
    fleet: { issuingCluster: 'prod-eu-1', ...over },
  });
  const withEnv = <T>(value: string | undefined, fn: () => T): T => {
    const before = process.env['REGCRED_ROTATOR_CLUSTER_ID'];
    if (value === undefined) delete process.env['REGCRED_ROTATOR_CLUSTER_ID'];
    else process.env['REGCRED_ROTATOR_CLUSTER_ID'] = value;
    try {
      return fn();
    } finally {
      if (before === undefined) delete process.env['REGCRED_ROTATOR_CLUSTER_ID'];
      else process.env['REGCRED_ROTATOR_CLUSTER_ID'] = before;
    }
  };

  it('REGCRED_ROTATOR_CLUSTER_ID sets it and wins over the file: one config for every cluster', () => {
    expect(withEnv('prod-us-2', () => validateConfig(fleet(), 'c.yaml').fleet?.clusterId)).toBe('prod-us-2');
    expect(
      withEnv('prod-us-2', () => validateConfig(fleet({ clusterId: 'in-file' }), 'c.yaml').fleet?.clusterId),
    ).toBe('prod-us-2');
    expect(
      withEnv('', () => validateConfig(fleet({ clusterId: 'in-file' }), 'c.yaml').fleet?.clusterId),
    ).toBe('in-file');
    expect(withEnv(undefined, () => validateConfig(fleet(), 'c.yaml').fleet?.clusterId)).toBeUndefined();
    // Without a fleet section it means nothing (a chart may set it everywhere).
    expect(withEnv('prod-us-2', () => validateConfig(base(), 'c.yaml').fleet)).toBeUndefined();
  });

  it('must be a DNS label, like the key it stands for', () => {
    expect(withEnv('Prod_EU.1', () => problems(fleet()))).toEqual([
      'fleet.clusterId: REGCRED_ROTATOR_CLUSTER_ID "Prod_EU.1" must be a DNS label (lower-case letters, digits and "-", at most 63)',
    ]);
  });
});
