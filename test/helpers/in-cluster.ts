/**
 * What every in-cluster test sets up: app namespaces on the node, OpenBao's Kubernetes auth trusting our
 * API server for the rotator's ServiceAccount, registry users for the rotator's own pull secret, the
 * config the pod runs with, and the first own pull secret (the bootstrap an operator does once).
 */
import { baoOk, enableAuth, kvPut, policy, stackCa } from './openbao.ts';
import { nodeNamespace, registryUsers } from './node.ts';
import { runCli, Workspace } from './rotator.ts';
import { deleteNamespaces, env, kubectl, stack, suffix } from './stack.ts';

export class InCluster {
  readonly sfx = suffix();
  readonly apps: string[];
  readonly mount: string;

  readonly namespace: string;
  readonly serviceAccount: string;

  /** `namespace` and `serviceAccount`: where the rotator runs, and as whom. */
  constructor(namespace: string, serviceAccount: string, apps = 2) {
    this.namespace = namespace;
    this.serviceAccount = serviceAccount;
    this.apps = Array.from({ length: apps }, (_, i) => `ic-${this.sfx}-${i}`);
    this.mount = `kubernetes-ic-${this.sfx}`;
  }

  user = (k: number) => `ic-${this.sfx}-u${k}`;
  pass = (k: number) => `pw-${this.sfx}-${k}-${(k + 3) * 7919}`;
  /** The keys of the Secret the file store reads (mounted at /etc/regcred-creds). */
  creds = (k: number) => ({ user: this.user(k), pass: this.pass(k) });
  get label(): Record<string, string> {
    return { ic: this.sfx };
  }

  /** The config the pod runs with: OpenBao (Kubernetes auth) for the apps, the mounted Secret for itself. */
  config(over: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      stores: {
        bao: {
          type: 'vault',
          address: env('REGCRED_STACK_BAO_ADDR'),
          caFile: '/etc/regcred-ca/ca.crt',
          auth: { method: 'kubernetes', mount: this.mount, role: 'regcred-rotator' },
        },
        mounted: { type: 'file', path: '/etc/regcred-creds' },
      },
      targets: [
        {
          name: 'apps',
          store: 'bao',
          registry: stack.registryBearer,
          credentials: { json: { key: `ic-${this.sfx}/bearer` } },
          secretName: 'regcred-apps',
          namespaces: { selector: `ic=${this.sfx}` },
          serviceAccounts: ['default'],
        },
        this.selfTarget(),
      ],
      rotation: { retainSuperseded: '0', settleSeconds: 2 },
      metrics: { pushgateway: env('REGCRED_STACK_PUSHGATEWAY'), job: `regcred-rotator-${this.sfx}` },
      // No lock: in a pod, the Lease goes to the pod's own namespace.
      ...over,
    };
  }

  /** The rotator's own pull secret: the basic registry, for its ServiceAccount in its namespace. */
  selfTarget(): Record<string, unknown> {
    return {
      name: 'self',
      store: 'mounted',
      registry: stack.registryBasic,
      credentials: { username: { key: 'user' }, password: { key: 'pass' } },
      secretName: 'regcred-self',
      namespaces: { names: [this.namespace] },
      serviceAccounts: [this.serviceAccount],
    };
  }

  /** App namespaces, registry user 0, OpenBao. */
  async setUp(): Promise<void> {
    registryUsers.add(this.user(0), this.pass(0));
    for (const ns of this.apps) await nodeNamespace(ns, this.label);
    await this.appCredentials(1);
    await policy(`ic-${this.sfx}`, `path "secret/data/ic-${this.sfx}/*" { capabilities = ["read"] }`);
    const reviewer = `vault-reviewer-${this.sfx}`;
    kubectl('-n', 'default', 'create', 'serviceaccount', reviewer);
    kubectl(
      'create',
      'clusterrolebinding',
      reviewer,
      '--clusterrole=system:auth-delegator',
      `--serviceaccount=default:${reviewer}`,
    );
    const jwt = kubectl('-n', 'default', 'create', 'token', reviewer, '--duration=2h').stdout.trim();
    await enableAuth(this.mount, 'kubernetes');
    await baoOk('POST', `auth/${this.mount}/config`, {
      kubernetes_host: env('REGCRED_STACK_APISERVER'),
      kubernetes_ca_cert: stackCa(),
      token_reviewer_jwt: jwt,
      disable_local_ca_jwt: true,
    });
    await baoOk('POST', `auth/${this.mount}/role/regcred-rotator`, {
      bound_service_account_names: [this.serviceAccount],
      bound_service_account_namespaces: [this.namespace],
      token_policies: [`ic-${this.sfx}`],
      token_ttl: '300s',
    });
  }

  /** Writes the apps' credential to OpenBao: the stack's first or second registry user (a new KV version). */
  async appCredentials(which: 1 | 2): Promise<void> {
    await kvPut(
      `ic-${this.sfx}/bearer`,
      which === 1
        ? { username: stack.user, password: stack.password }
        : { username: stack.user2, password: stack.password2 },
    );
  }

  /**
   * The first pull of the rotator's own image needs a pull secret before the rotator has ever run: a run
   * from outside the cluster (an operator's first `--rotate-now -n <namespace>`) provisions it.
   */
  async bootstrapOwnPullSecret(): Promise<void> {
    const w = new Workspace();
    w.cred('user', this.user(0));
    w.cred('pass', this.pass(0));
    w.writeConfig({
      stores: { mounted: { type: 'file', path: w.creds } },
      targets: [this.selfTarget()],
      lock: { namespace: this.namespace },
    });
    const r = await runCli(['--config', w.config, '--rotate-now', '-n', this.namespace]);
    if (r.code !== 0) throw new Error(`bootstrap run failed: ${r.text}`);
  }

  async tearDown(): Promise<void> {
    await deleteNamespaces([this.namespace, ...this.apps]);
    kubectl('delete', 'clusterrolebinding', `vault-reviewer-${this.sfx}`, '--ignore-not-found');
    kubectl('-n', 'default', 'delete', 'serviceaccount', `vault-reviewer-${this.sfx}`, '--ignore-not-found');
  }
}
