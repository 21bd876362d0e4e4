/**
 * Targets with an issuer, one kind per registry class, set up on the stack the way the reliability, refusal
 * and leak tests need them: Gitea (`many-tokens`: tokens of the pull user, named after the target), the
 * Harbor double (`paired-accounts`: a robot pair in a project of this lab's own) and the ACR double
 * (`dual-slot`: a token of the target's own), all storing in OpenBao under one path prefix with a token
 * that may touch nothing else. What counts is what the registry lists, read with the tests' own clients
 * (`census`), and whether the registry lets a stored value in (`works`) — never the rotator's word for it.
 */
import { resolve } from 'node:path';
import { acr, basic as acrBasic, makeToken, registry as acrRegistry, sdk, slotsOf } from './acr.ts';
import { api as giteaApi, adminAuth, createToken, deleteToken, gitea, realmToken } from './gitea.ts';
import { call as harborCall, createMember, createProject, harbor, robotsOf, skopeoAsync } from './harbor.ts';
import { NODE_SELECTOR } from './node.ts';
import { bao, baoOk, policy } from './openbao.ts';
import { runCli, Workspace, type CliResult, type EnvOverrides } from './rotator.ts';
import { api, deleteNamespaces, env, setServiceAccountPulls, suffix } from './stack.ts';

export type Kind = 'gitea' | 'harbor' | 'acr';
export const KINDS: readonly Kind[] = ['gitea', 'harbor', 'acr'];
export const CLASS_OF = { gitea: 'many-tokens', harbor: 'paired-accounts', acr: 'dual-slot' } as const;

/** One registry-side credential as the registry lists it. */
export interface Credential {
  id: string;
  active: boolean;
}

export interface StoredVersion {
  version: number;
  data: Record<string, string>;
}

const RESOLVE_HOOK = resolve(import.meta.dirname, '../stack/azure/resolve.ts');
const AZURE_VARS = [
  'AZURE_CLIENT_ID',
  'AZURE_TENANT_ID',
  'AZURE_CLIENT_SECRET',
  'AZURE_CLIENT_CERTIFICATE_PATH',
  'AZURE_FEDERATED_TOKEN_FILE',
  'AZURE_AUTHORITY_HOST',
  'AZURE_POD_IDENTITY_AUTHORITY_HOST',
  'IDENTITY_ENDPOINT',
  'IDENTITY_HEADER',
  'MSI_ENDPOINT',
  'MSI_SECRET',
];

/** A target of the lab: its registry object, store path, namespaces, and how to count and check at the registry. */
export class LabTarget {
  readonly lab: IssuerLab;
  readonly kind: Kind;
  readonly name: string;
  /** The name within the lab. */
  readonly short: string;
  readonly namespaces: string[];
  /** The KV path the credential is stored at (`credentials.json.key`). */
  readonly path: string;
  /** Extra issuer settings (orphanGraceMinutes, verifyTimeoutSeconds, …). */
  issuerExtra: Record<string, unknown>;

  /** `short` is unique in the lab; the target's name adds the lab's prefix (unique on the stack). */
  constructor(lab: IssuerLab, kind: Kind, short: string, issuerExtra: Record<string, unknown>) {
    this.lab = lab;
    this.kind = kind;
    this.short = short;
    this.name = `${lab.prefix}-${short}`;
    this.namespaces = [0, 1].map((i) => `${this.name}-${i}`);
    this.path = `${lab.prefix}/${short}`;
    this.issuerExtra = issuerExtra;
  }

  /** The Harbor robot pair's base name, the ACR token's name: the target's. */
  get object(): string {
    return this.name;
  }

  get robots(): [string, string] {
    return [
      `robot$${this.lab.harborProject}+${this.name}-a`,
      `robot$${this.lab.harborProject}+${this.name}-b`,
    ];
  }

  /** The registry's management API: what a fault proxy goes in front of. */
  get upstream(): string {
    return { gitea: gitea.url, harbor: harbor.url, acr: acr.arm }[this.kind];
  }

  get registry(): string {
    return { gitea: gitea.registry, harbor: harbor.host, acr: acr.loginServer }[this.kind];
  }

  /** The private test image at the target's registry that its credential may pull (Harbor: the lab's project). */
  get image(): string {
    return {
      gitea: () => gitea.image,
      harbor: () => `${harbor.host}/${this.lab.harborProject}/busybox:1`,
      acr: () => env('REGCRED_STACK_ACR_IMAGE'),
    }[this.kind]();
  }

  /** The issuer section; `apiUrl` points it at a proxy in front of the registry's API. */
  issuer(apiUrl = this.upstream, over: Record<string, unknown> = {}): Record<string, unknown> {
    const lab = this.lab;
    const base: Record<string, Record<string, unknown>> = {
      gitea: {
        type: 'gitea-token',
        url: apiUrl,
        user: gitea.puller,
        login: { username: gitea.puller, password: { key: `${lab.prefix}/manage#gitea` } },
      },
      harbor: {
        type: 'harbor-robot',
        url: apiUrl,
        project: lab.harborProject,
        robot: this.object,
        login: { username: lab.harborUser, password: { key: `${lab.prefix}/manage#harbor` } },
        caFile: harbor.ca,
      },
      acr: {
        type: 'acr-token',
        subscriptionId: acr.subscription,
        resourceGroup: acr.resourceGroup,
        registry: acr.registry,
        token: this.object,
        armEndpoint: apiUrl,
        armAudience: acr.audience,
        identity: { credential: 'environment' },
      },
    };
    return { ...base[this.kind], ...this.issuerExtra, ...over };
  }

  entry(apiUrl?: string, issuerOver: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      name: this.name,
      store: 'bao',
      registry: this.registry,
      credentials: { json: { key: this.path } },
      secretName: `regcred-${this.short}`,
      namespaces: { names: this.namespaces },
      issuer: this.issuer(apiUrl, issuerOver),
    };
  }

  /** Creates the registry-side object the issuer manages (an ACR token; Gitea and Harbor need none). */
  async prepare(): Promise<void> {
    if (this.kind === 'acr') await makeToken(this.object);
    for (const ns of this.namespaces) {
      // Not waiting for the controller-manager's `default` ServiceAccount: on a busy stack it can take a
      // minute; the one made here is the same object, and the controller leaves an existing one alone.
      await api().createNamespace({
        body: {
          metadata: {
            name: ns,
            labels: { 'issuer-lab': this.lab.prefix },
            annotations: this.lab.onNode ? NODE_SELECTOR : undefined,
          },
        },
      });
      await api()
        .createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'default' } } })
        .catch((e: unknown) => {
          if ((e as { code?: number }).code !== 409) throw e;
        });
      await api().createNamespacedSecret({
        namespace: ns,
        body: {
          metadata: { name: 'team-mirror' },
          type: 'kubernetes.io/dockerconfigjson',
          data: {
            '.dockerconfigjson': Buffer.from('{"auths":{"mirror.example.com":{"auth":"bTpw"}}}').toString(
              'base64',
            ),
          },
        },
      });
      await setServiceAccountPulls(ns, ['team-mirror']);
    }
  }

  /** Every credential of this target the registry lists now (ours by name, slot or robot pair). */
  async census(): Promise<Credential[]> {
    switch (this.kind) {
      case 'gitea': {
        const ours = new RegExp(`^regcred-${this.name}-\\d{8}T\\d{6}Z-[a-z0-9]{4}$`);
        return (await allTokens(gitea.puller))
          .filter((t) => ours.test(t.name))
          .map((t) => ({ id: String(t.id), active: true }));
      }
      case 'harbor': {
        const now = Date.now() / 1000;
        return (await robotsOf(this.lab.harborProjectId))
          .filter((r) => this.robots.includes(r.name))
          .map((r) => ({ id: r.name, active: !r.disable && (r.expires_at === -1 || r.expires_at > now) }))
          .sort((a, b) => (a.id < b.id ? -1 : 1));
      }
      case 'acr': {
        const now = Date.now();
        return [...(await slotsOf(this.object)).entries()]
          .map(([id, s]) => ({ id, active: s.expiry === undefined || s.expiry.getTime() > now }))
          .sort((a, b) => (a.id < b.id ? -1 : 1));
      }
    }
  }

  async active(): Promise<string[]> {
    return (await this.census()).filter((c) => c.active).map((c) => c.id);
  }

  /** The store's newest version of the target's credential. */
  async stored(): Promise<StoredVersion> {
    const r = (await baoOk('GET', `secret/data/${this.path}`))['data'] as {
      data: Record<string, string>;
      metadata: { version: number };
    };
    this.lab.secrets.add(r.data['password'] ?? '');
    return { version: r.metadata.version, data: r.data };
  }

  /** Version `v` of the stored credential (its password noted as a secret); undefined when there is none. */
  async storedValue(v: number): Promise<Record<string, string> | undefined> {
    const r = await bao('GET', `secret/data/${this.path}?version=${v}`);
    const data = (r.json['data'] as { data?: Record<string, string> } | undefined)?.data;
    if (r.status !== 200 || !data) return undefined;
    if (data['password']) this.lab.secrets.add(data['password']);
    return data;
  }

  /** The store's version number of the credential; 0 while it holds none. */
  async version(): Promise<number> {
    const r = await bao('GET', `secret/data/${this.path}`);
    if (r.status === 404) return 0;
    return (r.json['data'] as { metadata: { version: number } }).metadata.version;
  }

  /** Whether the registry lets these credentials in, asked the way a client logs in. */
  async works(username: string, password: string): Promise<boolean> {
    switch (this.kind) {
      case 'gitea':
        return (await realmToken(username, password)).status === 200;
      case 'harbor':
        return (await harborCall('GET', '/v2/', { auth: { user: username, pass: password } })).status === 200;
      case 'acr':
        return (await acrRegistry('/v2/', acrBasic(username, password))).status === 200;
    }
  }

  /** Whether the store's newest version works at the registry. */
  async storedWorks(): Promise<boolean> {
    const s = (await this.stored()).data;
    return this.works(s['username'] ?? '', s['password'] ?? '');
  }

  /**
   * What keeps the target's namespaces from being converged on the store's newest version: each `default`
   * ServiceAccount names the foreign entry first and then exactly one managed Secret, which exists and holds
   * the stored credential for the registry. Empty when converged.
   */
  async divergence(): Promise<string[]> {
    const s = (await this.stored()).data;
    const out: string[] = [];
    for (const ns of this.namespaces) {
      const sa = await api().readNamespacedServiceAccount({ namespace: ns, name: 'default' });
      const pulls = (sa.imagePullSecrets ?? []).map((p) => p.name ?? '');
      const managed = pulls.filter((p) => p.startsWith('regcred-'));
      if (pulls[0] !== 'team-mirror' || managed.length !== 1) {
        out.push(`${ns}: ServiceAccount default pulls [${pulls.join(', ')}]`);
        continue;
      }
      const secret = await api()
        .readNamespacedSecret({ namespace: ns, name: managed[0] ?? '' })
        .catch(() => undefined);
      const cfg = JSON.parse(
        Buffer.from(secret?.data?.['.dockerconfigjson'] ?? 'e30=', 'base64').toString('utf8'),
      ) as { auths?: Record<string, { username?: string; password?: string }> };
      const entry = cfg.auths?.[this.registry];
      if (entry?.username !== s['username'] || entry?.password !== s['password'])
        out.push(`${ns}: Secret ${managed[0] ?? ''} ${secret ? 'holds another credential' : 'is missing'}`);
    }
    return out;
  }

  async cleanup(): Promise<void> {
    if (this.kind === 'gitea')
      for (const c of await this.census().catch(() => []))
        await deleteToken(gitea.puller, c.id).catch(() => 0);
    if (this.kind === 'acr')
      await sdk('CONTRIBUTOR')
        .tokens.delete(acr.resourceGroup, acr.registry, this.object)
        .catch(() => undefined);
  }
}

/**
 * One test file's setup: an OpenBao token for its own path prefix, the issuers' managing identities (a
 * Gitea management token `write:user,read:package`, a Harbor project with a project-admin user, the ACR
 * double's rotator app with the documented custom role), and every secret seen on the way, for leak checks.
 */
export class IssuerLab {
  readonly prefix: string;
  readonly targets: LabTarget[] = [];
  /** Every secret value this lab has seen (issued credentials as read from the store, logins, the store token). */
  readonly secrets = new Set<string>();
  /** Undone at cleanup, after the lab's own objects (tokens a test minted for a refusal, say). */
  readonly cleanups: (() => Promise<unknown>)[] = [];
  storeToken = '';
  giteaManager = { id: 0, token: '' };
  harborProject = '';
  harborProjectId = 0;
  harborUser = '';
  harborPassword = '';
  /** The targets' namespaces may run pods on the node, and the Harbor project holds the test image. */
  readonly onNode: boolean;
  /**
   * `rotation.settleSeconds` of the lab's configs: 0 while no pod of the lab is on the node; a test that
   * puts pods there raises it, so that the kubelet has seen refreshed Secrets before a revocation.
   */
  settleSeconds = 0;

  constructor(prefix = `il${suffix()}`, o: { onNode?: boolean } = {}) {
    this.prefix = prefix;
    this.onNode = o.onNode ?? false;
  }

  target(kind: Kind, name: string, issuerExtra: Record<string, unknown> = {}): LabTarget {
    const t = new LabTarget(this, kind, name, issuerExtra);
    this.targets.push(t);
    return t;
  }

  async setup(): Promise<void> {
    const kinds = new Set(this.targets.map((t) => t.kind));
    await policy(
      this.prefix,
      `path "secret/data/${this.prefix}/*" { capabilities = ["read", "create", "update"] }
path "secret/metadata/${this.prefix}/*" { capabilities = ["read", "list"] }`,
    );
    const t = await baoOk('POST', 'auth/token/create', { policies: [this.prefix], ttl: '2h' });
    this.storeToken = (t['auth'] as { client_token: string }).client_token;
    const manage: Record<string, string> = {};
    let copied: Promise<{ code: number; out: string }> | undefined;
    if (kinds.has('gitea')) {
      const m = await createToken(gitea.puller, gitea.pullerPassword, `manage-${this.prefix}`, [
        'write:user',
        'read:package',
      ]);
      this.giteaManager = { id: m.id, token: m.sha1 };
      manage['gitea'] = m.sha1;
    }
    if (kinds.has('harbor')) {
      this.harborProject = this.prefix;
      this.harborProjectId = await createProject(this.harborProject);
      this.harborUser = `rotator-${this.prefix}`;
      this.harborPassword = `Rotator-${this.prefix}-${suffix()}A1`;
      await createMember(this.harborProject, this.harborUser, this.harborPassword, 1);
      manage['harbor'] = this.harborPassword;
      // The test image in the lab's project, which its robots may pull: copied while the targets are prepared.
      if (this.onNode)
        copied = skopeoAsync(
          ['copy', `docker://${harbor.image}`, `docker://${harbor.host}/${this.harborProject}/busybox:1`],
          { user: harbor.adminUser, pass: harbor.adminPassword },
        );
    }
    await baoOk('POST', `secret/data/${this.prefix}/manage`, { data: manage });
    for (const s of [this.storeToken, ...Object.values(manage)]) this.secrets.add(s);
    if (kinds.has('acr')) this.secrets.add(acr.secret('ROTATOR'));
    await Promise.all(this.targets.map((x) => x.prepare()));
    const c = await copied;
    if (c && c.code !== 0) throw new Error(`copying the test image into ${this.harborProject}: ${c.out}`);
  }

  /** The rotator's environment: the store token, and for ACR the Azure name hook and the app's identity. */
  env(app: 'ROTATOR' | 'NOROLE' = 'ROTATOR'): EnvOverrides {
    const e: EnvOverrides = Object.fromEntries(AZURE_VARS.map((k) => [k, undefined]));
    e['LAB_STORE_TOKEN'] = this.storeToken;
    if (this.targets.some((t) => t.kind === 'acr')) {
      e['NODE_OPTIONS'] = `--import=${RESOLVE_HOOK}`;
      e['AZURE_TENANT_ID'] = acr.tenant;
      e['AZURE_CLIENT_ID'] = acr.id(app);
      e['AZURE_CLIENT_SECRET'] = acr.secret(app);
      this.secrets.add(acr.secret(app));
    }
    return e;
  }

  /** A config over some of the lab's targets; `store` points the store at a proxy. */
  config(
    entries: Record<string, unknown>[],
    o: {
      lock: string;
      store?: string | undefined;
      extra?: Record<string, unknown>;
      settleSeconds?: number;
    } = { lock: 'x' },
  ): Record<string, unknown> {
    return {
      stores: {
        bao: {
          type: 'vault',
          address: o.store ?? env('REGCRED_STACK_BAO_ADDR'),
          auth: { method: 'token', tokenEnv: 'LAB_STORE_TOKEN' },
        },
      },
      targets: entries,
      rotation: {
        retainSuperseded: '0',
        concurrency: 4,
        settleSeconds: o.settleSeconds ?? this.settleSeconds,
      },
      lock: { namespace: 'default', name: `${this.prefix}-${o.lock}` },
      ...o.extra,
    };
  }

  /** Writes `config` to a fresh workspace and runs the CLI with it (JSON logs; `args` after). */
  async run(
    config: Record<string, unknown>,
    args: string[],
    o: {
      app?: 'ROTATOR' | 'NOROLE';
      /** The whole environment, instead of `env(app)`. */
      env?: EnvOverrides;
      onSpawn?: (pid: number) => void;
      timeoutMs?: number;
    } = {},
  ): Promise<CliResult> {
    const w = new Workspace();
    w.writeConfig(config);
    return runCli(['--config', w.config, '--log-format', 'json', ...args], {
      env: o.env ?? this.env(o.app),
      onSpawn: o.onSpawn,
      timeoutMs: o.timeoutMs ?? 180_000,
    });
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.targets.map((t) => t.cleanup()));
    for (const c of this.cleanups) await c().catch(() => undefined);
    if (this.giteaManager.id) await deleteToken(gitea.puller, this.giteaManager.id).catch(() => 0);
    await deleteNamespaces(this.targets.flatMap((t) => t.namespaces));
  }
}

/** Every token of `user`, page by page (other tests mint tokens of the same user meanwhile). */
export async function allTokens(user: string): Promise<{ id: number; name: string }[]> {
  const out: { id: number; name: string }[] = [];
  for (let page = 1; page < 100; page++) {
    const r = await giteaApi('GET', `/users/${user}/tokens?page=${page}&limit=50`, adminAuth());
    if (r.status !== 200) throw new Error(`listing tokens of ${user}: HTTP ${r.status}`);
    const items = r.body as { id: number; name: string }[];
    out.push(...items);
    if (items.length < 50) break;
  }
  return out;
}

/** A pod that is never scheduled (no node matches) but is live: it holds its pull secrets' names (I1). */
export async function parkedPod(namespace: string, name: string): Promise<void> {
  await api().createNamespacedPod({
    namespace,
    body: {
      metadata: { name },
      spec: {
        nodeSelector: { 'issuer-lab/parked': 'true' },
        containers: [{ name: 'app', image: 'registry.example/app:1' }],
      },
    },
  });
}
