/**
 * The issuer rows of `npm run bench`: per registry class, on the same N namespaces, a rotation from a stored
 * credential (a new store version the rotator only rolls out) against a rotation whose credential the
 * rotator mints itself (`--reissue`: issue at the registry, store, wait until the registry accepts it, roll
 * out, revoke the old one). Interleaved, BENCH_ISSUER_PAIRS pairs per class. Then ACR once more with the
 * double's replication delay (BENCH_ACR_REPLICATION_MS) on a slot that held a value: the wait the
 * registry imposes, reported apart (the run summary's `verifiedAfterMs`).
 *
 * Registries: the stack's Gitea (gitea-token, many-tokens), the Harbor double (harbor-robot,
 * paired-accounts), the ACR double (acr-token, dual-slot); the store is OpenBao.
 */
import { Workspace } from '../test/helpers/rotator.ts';
import { ACR_NODE_OPTIONS, acr, acrAdmin, makeToken, sdk, slotsOf } from '../test/helpers/acr.ts';
import { adminAuth, api as giteaApi, createToken, gitea, listTokens } from '../test/helpers/gitea.ts';
import { admin, call, harbor, json } from '../test/helpers/harbor.ts';
import { bao, baoOk, policy } from '../test/helpers/openbao.ts';
import { env, waitFor } from '../test/helpers/stack.ts';
import {
  addPods,
  measure,
  removeNamespaces,
  runRotator,
  setup,
  type Measure,
  type RunSummaryLine,
} from './cluster.ts';

const PAIRS = Number(process.env['BENCH_ISSUER_PAIRS'] ?? 3);
const REPLICATION_MS = Number(process.env['BENCH_ACR_REPLICATION_MS'] ?? 60_000);
const CLASSES = ['gitea', 'harbor', 'acr'] as const;
type Class = (typeof CLASSES)[number];
const CLASS_OF: Record<Class, string> = {
  gitea: 'gitea-token (many-tokens)',
  harbor: 'harbor-robot (paired-accounts)',
  acr: 'acr-token (dual-slot)',
};

interface Step extends Measure {
  verifiedAfterMs?: number | undefined;
  issued?: string | undefined;
  revoked?: string[] | undefined;
}

export interface IssuerClassResult {
  class: Class;
  issuer: string;
  provision: Step;
  stored: Step[];
  issued: Step[];
  /** ACR only: an issue that overwrote a slot holding a value, with the double's replication delay set. */
  replicated?: (Step & { delayMs: number }) | undefined;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export async function issuerBench(
  n: number,
  id: string,
): Promise<{ results: IssuerClassResult[]; rows: string[] }> {
  const base = `bi${id}`;
  const label = `i${id}${n}`;
  process.stderr.write(`[bench] issuers: ${n} namespaces\n`);
  const names = await setup(label, n, undefined, false);
  await policy(
    base,
    `path "secret/data/${base}/*" { capabilities = ["read", "create", "update"] }
path "secret/metadata/${base}/*" { capabilities = ["list"] }`,
  );
  const storeToken = (
    (await baoOk('POST', 'auth/token/create', { policies: [base], ttl: '2h' }))['auth'] as {
      client_token: string;
    }
  ).client_token;
  const manage = await createToken(gitea.puller, gitea.pullerPassword, `manage-${base}`, [
    'write:user',
    'read:package',
  ]);
  await baoOk('POST', `secret/data/${base}/gitea-login`, { data: { token: manage.sha1 } });
  await baoOk('POST', `secret/data/${base}/harbor-login`, { data: { password: harbor.adminPassword } });
  await makeToken(base);
  const settings = await acrAdmin<Record<string, unknown>>('GET', 'settings');
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    BI_STORE_TOKEN: storeToken,
    NODE_OPTIONS: ACR_NODE_OPTIONS,
    AZURE_TENANT_ID: acr.tenant,
    AZURE_CLIENT_ID: acr.id('ROTATOR'),
    AZURE_CLIENT_SECRET: acr.secret('ROTATOR'),
  };
  const issuers: Record<Class, Record<string, unknown>> = {
    gitea: {
      type: 'gitea-token',
      url: gitea.url,
      user: gitea.puller,
      login: { username: gitea.puller, password: { key: `${base}/gitea-login#token` } },
    },
    harbor: {
      type: 'harbor-robot',
      url: harbor.url,
      project: harbor.project,
      robot: base,
      login: { username: harbor.adminUser, password: { key: `${base}/harbor-login#password` } },
      caFile: harbor.ca,
    },
    acr: {
      type: 'acr-token',
      subscriptionId: acr.subscription,
      resourceGroup: acr.resourceGroup,
      registry: acr.registry,
      token: base,
      armEndpoint: acr.arm,
      armAudience: acr.audience,
      identity: { credential: 'environment' },
      // Enough for the replicated case below: the run waits for the registry, polling.
      verifyTimeoutSeconds: Math.ceil(REPLICATION_MS / 1000) + 60,
    },
  };
  const registry: Record<Class, string> = {
    gitea: gitea.registry,
    harbor: harbor.host,
    acr: acr.loginServer,
  };
  /** The same target with and without its issuer: the second only rolls out what the store holds. */
  const configs = (c: Class, withIssuer: boolean): string =>
    new Workspace().writeConfig({
      stores: {
        bao: {
          type: 'vault',
          address: env('REGCRED_STACK_BAO_ADDR'),
          auth: { method: 'token', tokenEnv: 'BI_STORE_TOKEN' },
        },
      },
      targets: [
        {
          name: `${base}-${c}`,
          store: 'bao',
          registry: registry[c],
          credentials: { json: { key: `${base}/${c}` } },
          secretName: `regcred-${c}`,
          namespaces: { selector: `bench=${label}` },
          ...(withIssuer ? { issuer: issuers[c] } : {}),
        },
      ],
      rotation: { retainSuperseded: '0', concurrency: 16 },
      lock: { namespace: 'default', name: `bench-${base}-${c}` },
    });
  const step = async (config: string, args: string[] = []): Promise<Step> => {
    let s: RunSummaryLine | undefined;
    const m = await measure(async () => {
      s = await runRotator(config, args, childEnv);
      return s.maxRssKb;
    });
    // Every step changes every namespace: a run that left some unchanged would flatter the numbers.
    const outcomes = s?.outcomes ?? {};
    const all = Object.values(outcomes).reduce((a, b) => a + b, 0);
    if (all !== n || (outcomes['unchanged'] ?? 0) > 0)
      throw new Error(`a step did not change all ${n} namespaces: ${JSON.stringify(outcomes)}`);
    const i = s?.issuance?.[0];
    return { ...m, verifiedAfterMs: i?.verifiedAfterMs, issued: i?.issued, revoked: i?.revoked };
  };
  /**
   * A new store version holding the same valid credential with another `email`: the rendered secret changes
   * as with a new password, so this rotation does all the issued one does in the cluster (the pods' secrets
   * refreshed too), only the registry and the store's new credential are not the rotator's work.
   */
  let stores = 0;
  const restore = async (c: Class): Promise<void> => {
    const cur = (await baoOk('GET', `secret/data/${base}/${c}`))['data'] as { data: Record<string, string> };
    await baoOk('POST', `secret/data/${base}/${c}`, {
      data: { ...cur.data, email: `bench-${++stores}@example.invalid` },
    });
  };

  const results: IssuerClassResult[] = [];
  try {
    const withIssuer = Object.fromEntries(CLASSES.map((c) => [c, configs(c, true)])) as Record<Class, string>;
    const plain = Object.fromEntries(CLASSES.map((c) => [c, configs(c, false)])) as Record<Class, string>;
    const provisions = new Map<Class, Step>();
    for (const c of CLASSES) provisions.set(c, await step(withIssuer[c]));
    // Pods created now hold the three first secrets: every rotation keeps (refreshes) them for the pods.
    await addPods(names);
    for (const c of CLASSES) {
      process.stderr.write(`[bench] issuers: ${c}, ${PAIRS} pairs\n`);
      const r: IssuerClassResult = {
        class: c,
        issuer: CLASS_OF[c],
        provision: provisions.get(c) as Step,
        stored: [],
        issued: [],
      };
      for (let p = 0; p < PAIRS; p++) {
        await restore(c);
        r.stored.push(await step(plain[c]));
        r.issued.push(await step(withIssuer[c], ['--reissue']));
        const last = r.issued.at(-1);
        if (!last?.issued || last.revoked?.length !== 1)
          throw new Error(`${c}: the issued rotation did not issue and revoke: ${JSON.stringify(last)}`);
      }
      if (c === 'acr') {
        // The slot the next issue regenerates was removed by the last revocation; give it a value first
        // (outside the rotator), so that the issue overwrites it and ACR's replication applies.
        const slots = (await sdk('CONTRIBUTOR').tokens.get(acr.resourceGroup, acr.registry, base)).credentials
          ?.passwords;
        const free = (['password1', 'password2'] as const).find((s) => !slots?.some((x) => x.name === s));
        await sdk('CONTRIBUTOR').registries.generateCredentials(acr.resourceGroup, acr.registry, {
          tokenId: `${acr.registryId}/tokens/${base}`,
          name: free,
        });
        const filled = (await slotsOf(base)).get(free ?? '')?.creationTime?.getTime();
        // The double fixes when a value reaches the data plane at the moment it regenerates the slot, and its
        // settings are shared with every other test on the stack: the delay stays set only until the
        // rotator has regenerated the slot, not for the whole run.
        await acrAdmin('POST', 'settings', { replicationDelayMs: REPLICATION_MS });
        const running = step(withIssuer[c], ['--reissue']);
        running.catch(() => undefined); // awaited below; until then, a failure must not go unhandled
        try {
          await waitFor(
            `the rotator regenerating ${free}`,
            async () =>
              (await slotsOf(base)).get(free ?? '')?.creationTime?.getTime() !== filled ? true : undefined,
            120_000,
          );
        } finally {
          await acrAdmin('POST', 'settings', settings);
        }
        r.replicated = { ...(await running), delayMs: REPLICATION_MS };
      }
      results.push(r);
    }
  } finally {
    await acrAdmin('POST', 'settings', settings);
    await cleanup(base, label, names);
  }
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const rows = results.map((r) => {
    const st = median(r.stored.map((x) => x.ms));
    const is = median(r.issued.map((x) => x.ms));
    const wait = median(r.issued.map((x) => x.verifiedAfterMs ?? 0));
    const rep = r.replicated
      ? `${s(r.replicated.ms)}, of which ${s(r.replicated.verifiedAfterMs ?? 0)} waiting for the registry (delay ${s(r.replicated.delayMs)}); without that wait ${s(r.replicated.ms - (r.replicated.verifiedAfterMs ?? 0))}`
      : '-';
    return `| ${r.issuer} | ${n} | ${r.stored.map((x) => s(x.ms)).join(', ')} (median ${s(st)}) | ${r.issued.map((x) => s(x.ms)).join(', ')} (median ${s(is)}) | **${s(is - st)}** | ${s(wait)} | ${median(r.stored.map((x) => x.total))} / ${median(r.issued.map((x) => x.total))} | ${median(r.stored.map((x) => x.maxRssMb ?? 0))} / ${median(r.issued.map((x) => x.maxRssMb ?? 0))} MB | ${rep} |`;
  });
  return { results, rows };
}

export const ISSUER_TABLE_HEAD = [
  '| issuer (class) | N | rotation from a stored credential | rotation minted by the rotator (`--reissue`) | issued − stored (medians) | of which the registry took to accept it (median) | requests stored / issued | peak RSS stored / issued | ACR: a slot overwritten with replication |',
  '|---|---|---|---|---|---|---|---|---|',
];

async function cleanup(base: string, label: string, names: string[]): Promise<void> {
  await removeNamespaces(label, names);
  for (const t of await listTokens(gitea.puller).catch(() => []))
    if (t.name.startsWith(`regcred-${base}-`) || t.name === `manage-${base}`)
      await giteaApi('DELETE', `/users/${gitea.puller}/tokens/${t.id}`, adminAuth());
  const project = await call('GET', `/api/v2.0/projects/${harbor.project}`, { auth: admin() });
  const q = encodeURIComponent(`Level=project,ProjectID=${json<{ project_id: number }>(project).project_id}`);
  const robots = await call('GET', `/api/v2.0/robots?q=${q}&page_size=100`, { auth: admin() });
  for (const r of json<{ id: number; name: string }[]>(robots))
    if (r.name.startsWith(`robot$${harbor.project}+${base}-`))
      await call('DELETE', `/api/v2.0/robots/${r.id}`, { auth: admin() });
  await sdk('CONTRIBUTOR')
    .tokens.delete(acr.resourceGroup, acr.registry, base)
    .catch(() => undefined);
  for (const k of [...CLASSES, 'gitea-login', 'harbor-login'])
    await bao('DELETE', `secret/metadata/${base}/${k}`);
}
