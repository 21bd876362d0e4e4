/**
 * I5 for credentials minted at the source: every issuer path at debug log level — `validate --online` (the
 * issuers' checks), a dry run, the first issue, `status`, `--reissue` (issue, store, verify, roll out,
 * revoke), the recoveries from lost answers (a Gitea token created twice, a Harbor robot refreshed again, an
 * ACR slot burned) and a store write whose answer was lost, and wrong logins at each registry — for Gitea,
 * the Harbor double and the ACR double. No issued token, robot secret or slot password, no management token
 * or password, no client secret and no store token may appear in stdout, stderr, argv (read from /proc while
 * each run lives), the Events of the namespaces and the run Lease, or the metrics pushed to the Pushgateway.
 * The refusals of test/integration/issuance-refusals.test.ts go through the same canary there.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { acr } from '../helpers/acr.ts';
import { gitea } from '../helpers/gitea.ts';
import { harbor } from '../helpers/harbor.ts';
import { IssuerLab, KINDS, type LabTarget } from '../helpers/issuer-lab.ts';
import { LeakCanary } from '../helpers/leak-canary.ts';
import { baoOk } from '../helpers/openbao.ts';
import type { CliResult } from '../helpers/rotator.ts';
import { env, stack, suffix } from '../helpers/stack.ts';
import { FaultProxy } from '../reliability/fault-proxy.ts';
import { issueWrite, storeWrite } from '../reliability/issuance-checks.ts';

const lab = new IssuerLab();
const targets = KINDS.map((k) => lab.target(k, `leak-${k}`));
const canary = new LeakCanary();
const job = `regcred-${lab.prefix}`;
const wrong = { gitea: `Wrong-${suffix()}-${suffix()}`, harbor: `Wrong-${suffix()}-A1` };
let runs = 0;

beforeAll(async () => {
  await lab.setup();
  await baoOk('POST', `secret/data/${lab.prefix}/wrong`, { data: wrong });
  for (const s of Object.values(wrong)) lab.secrets.add(s);
}, 180_000);
afterAll(() => lab.cleanup());

/** A run of the CLI at debug level over `entries`, recorded by the canary; every stored version noted. */
async function go(
  args: string[],
  o: { entries?: Record<string, unknown>[]; store?: string; app?: 'ROTATOR' | 'NOROLE' } = {},
): Promise<CliResult> {
  runs++;
  const config = lab.config(o.entries ?? targets.map((t) => t.entry()), {
    lock: `leak-${runs}`,
    store: o.store,
    extra: { metrics: { pushgateway: env('REGCRED_STACK_PUSHGATEWAY'), job } },
  });
  const r = canary.record(
    await lab.run(config, ['--log-level', 'debug', ...args], { app: o.app, onSpawn: canary.onSpawn }),
  );
  for (const t of targets) for (let v = 1; (await t.storedValue(v)) !== undefined; v++);
  await canary.pushed(job);
  return r;
}

const proxy = async (upstream: string) => {
  const p = new FaultProxy(upstream, join(stack.run, 'pki'), { rate: 0, faults: [] });
  return { p, url: `https://127.0.0.1:${await p.listen()}` };
};

/** Each target's login pointed at a wrong password (Gitea, Harbor) or its client at the no-role app (ACR). */
const wrongLogin = (t: LabTarget): Record<string, unknown> =>
  t.kind === 'acr'
    ? t.entry()
    : t.entry(undefined, {
        login: {
          username: t.kind === 'gitea' ? gitea.puller : lab.harborUser,
          password: { key: `${lab.prefix}/wrong#${t.kind}` },
        },
      });

it('every issuer path at debug level leaks nothing secret anywhere', async () => {
  const validated = await go(['validate', '--online']);
  expect(validated.code, `${validated.stdout}\n${validated.stderr}`).toBe(0);
  // Each issuer's identity proved it can act; nothing is stored yet, which the first run mends.
  expect(validated.stdout.match(/^issuer +\S+ +ok /gm), validated.stdout).toHaveLength(3);
  expect(validated.stdout.match(/^credentials +\S+ +none yet /gm), validated.stdout).toHaveLength(3);
  // A dry run before anything is stored: it would issue each first credential, and has nothing to roll out.
  const planned = await go(['plan', '--summary']);
  expect(planned.code, `${planned.stdout}\n${planned.text}`).toBe(0);
  expect(planned.stdout.match(/would issue/g), planned.stdout).toHaveLength(3);
  const first = await go(['--rotate-now', '--summary']);
  expect(first.code, first.text).toBe(0);
  expect((await go(['status'])).code).toBe(0);
  expect((await go(['plan', '--reissue', '--summary'])).code).toBe(0);
  const second = await go(['--rotate-now', '--reissue', '--summary']);
  expect(second.code, second.text).toBe(0);
  expect(second.logs.filter((l) => l['msg'] === 'credential revoked')).toHaveLength(3);

  // Lost answers: the mint at each registry, and the store write of each new credential.
  for (const t of targets) {
    const registry = await proxy(t.upstream);
    const store = await proxy(env('REGCRED_STACK_BAO_ADDR'));
    registry.p.failNext('drop-after-apply', issueWrite(t));
    store.p.failNext('drop-after-apply', storeWrite(t));
    const r = await go(['--rotate-now', '--reissue', '--summary'], {
      entries: [t.entry(registry.url)],
      store: store.url,
    });
    await Promise.all([registry.p.close(), store.p.close()]);
    expect(registry.p.stats['drop-after-apply'], t.kind).toBe(1);
    // ACR burns the slot (exit 1, never resent); Gitea and Harbor recover, and then the store write's loss.
    expect(r.code, r.text).toBe(t.kind === 'acr' ? 1 : 0);
    if (t.kind !== 'acr') expect(store.p.stats['drop-after-apply'], t.kind).toBe(1);
  }

  // Wrong logins: Gitea's 401, Harbor's 401 after its penalty, Entra refusing a client secret.
  const refused = await go(['--rotate-now', '--reissue', '--summary'], { entries: targets.map(wrongLogin) });
  expect(refused.code).toBe(1);
  expect(refused.stdout.match(/FAILED \(/g)).toHaveLength(2);
  const secretWrong = `Wrong-${suffix()}-client+/secret`;
  lab.secrets.add(secretWrong);
  const env0 = lab.env('ROTATOR');
  const entra = await lab.run(
    lab.config(
      targets.filter((t) => t.kind === 'acr').map((t) => t.entry()),
      { lock: `leak-entra`, extra: { metrics: { pushgateway: env('REGCRED_STACK_PUSHGATEWAY'), job } } },
    ),
    ['--log-level', 'debug', '--rotate-now', '--reissue', '--summary'],
    { onSpawn: canary.onSpawn, env: { ...env0, AZURE_CLIENT_SECRET: secretWrong } },
  );
  runs++;
  canary.record(entra);
  expect(entra.code).toBe(1);
  expect(entra.stdout).toMatch(
    /FAILED \(list\): issuer acr-token .*could not get a token for ARM: AADSTS7000215/,
  );
  const invalid = await go(['validate', '--online'], { entries: targets.map(wrongLogin) });
  expect(invalid.code).toBe(1);
  // The wrong logins fail their issuer checks; the ACR entry (its identity unchanged) still passes.
  expect(invalid.stdout.match(/^issuer +\S+ +FAILED /gm), invalid.stdout).toHaveLength(2);

  const events = await canary.events(['default', ...targets.flatMap((t) => t.namespaces)]);
  expect(events).toBeGreaterThan(0);
  expect(canary.argvRead).toBe(runs);
  const usernames = [gitea.puller, lab.harborUser, acr.token];
  for (const t of targets) usernames.push(t.object, ...t.robots);
  canary.expectClean([...lab.secrets, harbor.adminPassword], usernames);
  // The canary can fail: a value that is in the output (a target's name, in every log line) is found.
  expect(() => canary.expectClean([targets[0]?.name ?? ''], [])).toThrow(/leaked a secret form/);
  console.log(
    `[integration] issuer leak canary: ${runs} runs, ${lab.secrets.size} secrets in ${canary.size} characters of output, argv, ${events} Events and pushed metrics: none found`,
  );
}, 600_000);
