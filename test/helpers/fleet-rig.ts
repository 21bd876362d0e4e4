/**
 * A fleet of rotators as tests drive it: clusters a, b and c (test/helpers/fleet.ts) run the real CLI with
 * one shared config — a target whose Gitea token is minted by the issuing cluster a and stored in OpenBao —
 * each with its own OpenBao token holding only what docs/fleet.md says a cluster needs (its own ledger
 * record; the issuing cluster also the credential, the issuer's login and a read of every record). What the
 * tests look at: the ledger as OpenBao holds it, the tokens alive at Gitea, and whether any namespace of
 * any cluster points at a token Gitea no longer has.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { cluster, type ClusterName, type StackCluster } from './fleet.ts';
import { createToken, deleteToken, gitea as g, listTokens, type ApiToken } from './gitea.ts';
import { bao, baoOk, policy } from './openbao.ts';
import { runCli, type CliResult, type EnvOverrides } from './rotator.ts';
import { env, waitFor } from './stack.ts';

export const NAMES: readonly ClusterName[] = ['a', 'b', 'c'];
const MANAGED = 'app.kubernetes.io/managed-by=regcred-rotator';

export interface LedgerRow {
  revision: string;
  ackedAt: string;
  state: string;
  registeredAt: string;
}

export class FleetRig {
  readonly sfx: string;
  readonly target: string;
  /** The store path of the credential; the ledger's records are under `<base>/gitea-fleet/`. */
  readonly base: string;
  readonly lease: string;
  readonly namespaces: string[];
  readonly dir = mkdtempSync(join(tmpdir(), 'regcred-fleet-'));
  /** Each cluster's id (`fleet id`: kube-system's UID). */
  readonly ids: Record<ClusterName, string> = { a: '', b: '', c: '' };
  /** Each cluster's own OpenBao token. */
  readonly storeTokens: Record<ClusterName, string> = { a: '', b: '', c: '' };
  manageToken = '';
  /** Everything the rotators printed, and every token the store held: none may appear in it. */
  readonly outputs: string[] = [];
  readonly passwords = new Set<string>();

  constructor(sfx: string, namespaces = 1) {
    this.sfx = sfx;
    this.target = `fl-${sfx}`;
    this.base = `fleet-${sfx}`;
    this.lease = `fleet-${sfx}`;
    this.namespaces = Array.from({ length: namespaces }, (_, i) => `fl-${sfx}-${i + 1}`);
  }

  get parent(): string {
    return `${this.base}/gitea-fleet`;
  }

  /** The shared config (and variants: `extra` merged over the top level, `rotation` over its keys). */
  config(
    o: { deadlineHours?: number; rotation?: Record<string, unknown>; extra?: Record<string, unknown> } = {},
  ): Record<string, unknown> {
    return {
      stores: {
        bao: {
          type: 'vault',
          address: env('REGCRED_STACK_BAO_ADDR'),
          auth: { method: 'token', tokenEnv: 'FLEET_STORE_TOKEN' },
          requestTimeoutSeconds: 5,
        },
      },
      targets: [
        {
          name: this.target,
          store: 'bao',
          registry: g.registry,
          credentials: { json: { key: `${this.base}/gitea` } },
          namespaces: { names: this.namespaces },
          issuer: {
            type: 'gitea-token',
            url: g.url,
            user: g.puller,
            login: { username: g.puller, password: { key: `${this.base}/manage#token` } },
          },
        },
      ],
      rotation: { retainSuperseded: '0', settleSeconds: 0, ...o.rotation },
      lock: { namespace: 'default', name: this.lease },
      fleet: { issuingCluster: this.ids.a, ackDeadlineHours: o.deadlineHours ?? 24 },
      ...o.extra,
    };
  }

  /** Writes a config file; its path. */
  write(doc: Record<string, unknown>, name = 'config.yaml'): string {
    const f = join(this.dir, name);
    writeFileSync(f, stringify(doc));
    return f;
  }

  /** Namespaces in every cluster, the issuer's login in OpenBao, each cluster's id. */
  async setup(): Promise<void> {
    this.manageToken = (
      await createToken(g.puller, g.pullerPassword, `manage-${this.sfx}`, ['write:user', 'read:package'])
    ).sha1;
    await baoOk('POST', `secret/data/${this.base}/manage`, { data: { token: this.manageToken } });
    await Promise.all(NAMES.flatMap((n) => this.namespaces.map((ns) => makeNamespace(cluster(n), ns))));
    // `fleet id` needs no store: a config without a fleet section yet is enough (it reads kube-system).
    const probe = this.write({ ...this.config(), fleet: undefined }, 'probe.yaml');
    for (const n of NAMES) {
      const r = await runCli(['--config', probe, '--kubeconfig', cluster(n).kubeconfig, 'fleet', 'id']);
      if (r.code !== 0) throw new Error(`fleet id on ${n}: ${r.text}`);
      this.ids[n] = r.stdout.trim();
    }
    for (const n of NAMES) this.storeTokens[n] = await this.#storeToken(n);
  }

  /** A token with the permissions docs/fleet.md lists for cluster `n`. */
  async #storeToken(n: ClusterName): Promise<string> {
    const own = `path "secret/data/${this.parent}/${this.ids[n]}" { capabilities = ["read", "create", "update"] }`;
    const rules =
      n === 'a'
        ? [
            own,
            `path "secret/data/${this.base}/gitea" { capabilities = ["read", "create", "update"] }`,
            `path "secret/data/${this.base}/manage" { capabilities = ["read"] }`,
            `path "secret/data/${this.parent}/*" { capabilities = ["read"] }`,
            `path "secret/metadata/${this.parent}/*" { capabilities = ["list"] }`,
          ]
        : [own, `path "secret/data/${this.base}/gitea" { capabilities = ["read"] }`];
    const name = `fleet-${this.sfx}-${n}`;
    await policy(name, rules.join('\n'));
    const t = await baoOk('POST', 'auth/token/create', { policies: [name], ttl: '1h' });
    return (t['auth'] as { client_token: string }).client_token;
  }

  /** The real CLI against cluster `n` with that cluster's store token (or `token`). */
  async run(
    n: ClusterName,
    args: string[],
    o: { config?: string; token?: string; env?: EnvOverrides; onSpawn?: (pid: number) => void } = {},
  ): Promise<CliResult> {
    const r = await runCli(
      [
        '--config',
        o.config ?? join(this.dir, 'config.yaml'),
        '--kubeconfig',
        cluster(n).kubeconfig,
        '--log-format',
        'json',
        ...args,
      ],
      {
        env: { FLEET_STORE_TOKEN: o.token ?? this.storeTokens[n], ...o.env },
        onSpawn: o.onSpawn,
      },
    );
    this.outputs.push(r.stdout, r.stderr);
    return r;
  }

  rotate(n: ClusterName, ...args: string[]): Promise<CliResult> {
    return this.run(n, ['--rotate-now', '--summary', ...args]);
  }

  /** The ledger as OpenBao holds it: cluster id → its record. */
  async ledger(): Promise<Map<string, LedgerRow>> {
    const out = new Map<string, LedgerRow>();
    const list = await bao('LIST', `secret/metadata/${this.parent}`);
    if (list.status === 404) return out;
    const keys = (list.json['data'] as { keys: string[] }).keys.filter((k) => !k.endsWith('/'));
    for (const k of keys) {
      const d = (await baoOk('GET', `secret/data/${this.parent}/${k}`))['data'] as {
        data: Record<string, string>;
      };
      out.set(k, {
        revision: d.data['regcred-acked-revision'] ?? '',
        ackedAt: d.data['regcred-acked-at'] ?? '',
        state: d.data['regcred-state'] ?? '',
        registeredAt: d.data['regcred-registered-at'] ?? '',
      });
    }
    return out;
  }

  /** The KV version of cluster `id`'s record (every write of it makes one). */
  async recordVersion(id: string): Promise<number> {
    const m = (await baoOk('GET', `secret/metadata/${this.parent}/${id}`))['data'] as {
      current_version: number;
    };
    return m.current_version;
  }

  /** What the store holds now: its version (as the ledger names it) and the Gitea token id. */
  async stored(): Promise<{ revision: string; tokenId: string; password: string }> {
    const d = (await baoOk('GET', `secret/data/${this.base}/gitea`))['data'] as {
      data: Record<string, string>;
      metadata: { version: number };
    };
    if (d.data['password']) this.passwords.add(d.data['password']);
    return {
      revision: `secret/${this.base}/gitea@${d.metadata.version}`,
      tokenId: d.data['regcred-credential-id'] ?? '',
      password: d.data['password'] ?? '',
    };
  }

  /** This target's tokens alive at Gitea. */
  async alive(): Promise<ApiToken[]> {
    return (await listTokens(g.puller)).filter((t) => t.name.startsWith(`regcred-${this.target}-`));
  }

  /**
   * Every managed Secret (and every ServiceAccount entry) in the target's namespaces of `clusters`, checked
   * against the tokens alive at Gitea: what points at a revoked token, as readable problems (none: []).
   * Also the token each cluster holds, by its last eight characters.
   */
  async check(
    clusters: readonly ClusterName[] = NAMES,
  ): Promise<{ problems: string[]; holds: Record<string, string[]> }> {
    const alive = new Set((await this.alive()).map((t) => t.token_last_eight));
    const problems: string[] = [];
    const holds: Record<string, string[]> = {};
    for (const n of clusters) {
      const c: StackCluster = cluster(n);
      const mine = new Set<string>();
      for (const namespace of this.namespaces) {
        const secrets = (await c.api().listNamespacedSecret({ namespace, labelSelector: MANAGED })).items;
        const names = new Set(secrets.map((s) => s.metadata?.name));
        const sa = await c.api().readNamespacedServiceAccount({ namespace, name: 'default' });
        for (const ref of sa.imagePullSecrets ?? [])
          if (ref.name?.startsWith('regcred-') && !names.has(ref.name))
            problems.push(`${n}/${namespace}: ServiceAccount names ${ref.name}, which does not exist`);
        for (const s of secrets) {
          const doc = JSON.parse(Buffer.from(s.data?.['.dockerconfigjson'] ?? '', 'base64').toString()) as {
            auths: Record<string, { password?: string }>;
          };
          const last8 = (doc.auths[g.registry]?.password ?? '').slice(-8);
          mine.add(last8);
          if (!alive.has(last8))
            problems.push(`${n}/${namespace}: Secret ${s.metadata?.name} holds a token Gitea no longer has`);
        }
      }
      holds[n] = [...mine];
    }
    return { problems, holds };
  }

  /** The Events on the issuing cluster's Lease, newest last. */
  async events(n: ClusterName = 'a'): Promise<{ reason: string; message: string }[]> {
    const ev = await cluster(n)
      .api()
      .listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.name=${this.lease}` });
    return ev.items.map((e) => ({ reason: e.reason ?? '', message: e.message ?? '' }));
  }

  async cleanup(): Promise<void> {
    for (const t of await this.alive().catch(() => [])) await deleteToken(g.puller, t.id);
    const manage = (await listTokens(g.puller).catch(() => [])).find((t) => t.name === `manage-${this.sfx}`);
    if (manage) await deleteToken(g.puller, manage.id);
    await Promise.all(
      NAMES.map((n) =>
        Promise.all(
          this.namespaces.map((ns) =>
            cluster(n)
              .api()
              .deleteNamespace({ name: ns })
              .catch(() => undefined),
          ),
        ),
      ),
    );
  }
}

/**
 * A namespace with its `default` ServiceAccount, created here rather than waited for: the main cluster's
 * controller-manager may be busy with another test's thousands of namespaces (a bench), and what it would
 * create is the same object.
 */
async function makeNamespace(c: StackCluster, name: string): Promise<void> {
  await c.api().createNamespace({ body: { metadata: { name } } });
  await c
    .api()
    .createNamespacedServiceAccount({ namespace: name, body: { metadata: { name: 'default' } } })
    .catch((e: unknown) => {
      if ((e as { code?: number }).code !== 409) throw e;
    });
}

/** Waits until the Pushgateway holds a sample of `metric` for `job` matching `re`; the job's lines. */
export async function pushed(job: string, re: RegExp): Promise<string> {
  return waitFor(
    `${re} in the Pushgateway`,
    async () => {
      const text = await (await fetch(`${env('REGCRED_STACK_PUSHGATEWAY')}/metrics`)).text();
      const mine = text
        .split('\n')
        .filter((l) => l.includes(`job="${job}"`))
        .join('\n');
      return re.test(mine) ? mine : undefined;
    },
    10_000,
  );
}
