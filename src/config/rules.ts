import { normaliseRegistryKey } from '../credentials/registry-key.ts';
import type { ConfigProblem } from '../errors.ts';
import { parseSelector, type Requirement } from '../kube/selector.ts';
import { isValidTimeZone, parseSchedule } from './schedule.ts';
import { parseDuration } from './duration.ts';
import { globError } from './glob.ts';
import type { RawConfig } from './schema.ts';
import { issuedWriteOf } from '../credentials/source.ts';
import { isWritableStoreType } from '../providers/registry.ts';

const SA_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const HOST_PORT = /^[a-z0-9.-]+(:\d+)?$/i;

/** What the rules computed per target on the way: the normalised config uses these, computed once. */
export interface TargetParts {
  secretName: string;
  selector: Requirement[] | undefined;
  /** Registry keys, normalised as the kubelet matches them. */
  registries: string[];
}

type Add = (path: string, message: string) => void;
type TargetConfig = RawConfig['targets'][number];

/**
 * What the rules read: the pieces of the config that parsed. A store that is named but invalid maps to
 * undefined, a target that is invalid is undefined at its index, a section that is invalid is undefined:
 * the rules check the rest, and skip what depends on a missing piece (its own problems are reported).
 */
export interface RuleInput {
  stores: Record<string, RawConfig['stores'][string] | undefined> | undefined;
  targets: (TargetConfig | undefined)[] | undefined;
  policy: RawConfig['policy'] | undefined;
  rotation: RawConfig['rotation'] | undefined;
  schedule: string | undefined;
  timeZone?: string | undefined;
  metrics: RawConfig['metrics'] | undefined;
  fleet?: RawConfig['fleet'];
  lock: RawConfig['lock'] | undefined;
}

/**
 * Cross-field rules the schema cannot express; every problem is returned with its dotted path, and each
 * target's derived parts (meaningful only when there is no problem).
 */
export function checkRules(c: RuleInput): { problems: ConfigProblem[]; parts: TargetParts[] } {
  const problems: ConfigProblem[] = [];
  const parts: TargetParts[] = [];
  const add: Add = (path, message) => problems.push({ path, message });
  const storeNames = Object.keys(c.stores ?? {});
  const names = new Map<string, number>();
  const secretNames = new Map<string, string>();

  (c.targets ?? []).forEach((t, i) => {
    const at = `targets[${i}]`;
    if (!t) {
      parts.push({ secretName: '', selector: undefined, registries: [] });
      return;
    }
    if (c.stores && !Object.hasOwn(c.stores, t.store)) {
      add(`${at}.store`, `no store named "${t.store}" (stores: ${storeNames.join(', ') || 'none'})`);
    }
    const prev = names.get(t.name);
    if (prev !== undefined) add(`${at}.name`, `duplicate target name "${t.name}" (also targets[${prev}])`);
    else names.set(t.name, i);
    const secretName = t.secretName ?? `regcred-${t.name}`;
    const p: TargetParts = { secretName, selector: undefined, registries: [] };
    parts.push(p);
    if (secretName.length > 52)
      add(`${at}.secretName`, `default name "${secretName}" is longer than 52 characters; set secretName`);
    const owner = secretNames.get(secretName);
    if (owner !== undefined)
      add(`${at}.secretName`, `secret name "${secretName}" is already used by target "${owner}"`);
    else secretNames.set(secretName, t.name);

    const regs = t.registry === undefined ? [] : Array.isArray(t.registry) ? t.registry : [t.registry];
    if (regs.length === 0 && t.credentials.shape !== 'dockerconfigjson')
      add(`${at}.registry`, 'required (the key under "auths", e.g. myregistry.azurecr.io)');
    regs.forEach((r, k) => {
      const n = normaliseRegistryKey(r);
      if ('error' in n) add(`${at}.registry${Array.isArray(t.registry) ? `[${k}]` : ''}`, n.error);
      else p.registries.push(n.key);
    });
    if (t.namespaces.selector !== undefined) {
      try {
        p.selector = parseSelector(t.namespaces.selector);
      } catch (e) {
        add(`${at}.namespaces.selector`, `bad label selector: ${(e as Error).message}`);
      }
    }
    t.namespaces.exclude.forEach((g, k) => {
      const err = globError(g);
      if (err) add(`${at}.namespaces.exclude[${k}]`, err);
    });
    if (t.issuer) checkIssuer(c, t, at, add);
    const sas = t.serviceAccounts;
    if (sas.includes('*') && sas.length > 1)
      add(`${at}.serviceAccounts`, '"*" means every ServiceAccount; do not combine it with names');
    sas.forEach((sa, k) => {
      if (sa !== '*' && !SA_NAME.test(sa))
        add(`${at}.serviceAccounts[${k}]`, `"${sa}" is not a ServiceAccount name`);
    });
  });

  checkSettings(c, add);
  return { problems, parts };
}

/** A target that mints its credential: somewhere to write it, in one version, and a rotation before the policy's limit. */
function checkIssuer(c: RuleInput, t: TargetConfig, at: string, add: Add): void {
  const store = c.stores?.[t.store];
  if (store && !isWritableStoreType(store.type))
    add(
      `${at}.issuer`,
      `store "${t.store}" (${store.type}) cannot be written; an issuer stores each new credential in a vault or azure-key-vault store`,
    );
  const where = issuedWriteOf(t.credentials);
  if ('error' in where) add(`${at}.credentials`, where.error);
  const after = t.issuer?.rotateAfterDays;
  if (after !== undefined && c.policy && after >= c.policy.maxAgeDays)
    add(
      `${at}.issuer.rotateAfterDays`,
      `must be less than policy.maxAgeDays (${c.policy.maxAgeDays}): a credential would reach the limit before it is rotated`,
    );
}

/** The rules of the settings outside `targets`: policy, rotation, schedule, time zone, metrics. */
function checkSettings(c: RuleInput, add: Add): void {
  if (c.policy && c.policy.warnAgeDays >= c.policy.maxAgeDays) {
    add('policy.warnAgeDays', `must be less than maxAgeDays (${c.policy.maxAgeDays})`);
  }
  if (c.rotation) checkRotation(c.rotation, add);
  if (c.schedule !== undefined) {
    const sched = parseSchedule(c.schedule);
    if ('error' in sched) add('schedule', sched.error);
  }
  if (c.timeZone !== undefined && !isValidTimeZone(c.timeZone))
    add('timeZone', `"${c.timeZone}" is not an IANA time zone (e.g. Europe/Berlin, UTC)`);
  if (c.metrics && c.metrics.pushgateway !== '') {
    try {
      const u = new URL(c.metrics.pushgateway);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
    } catch {
      add('metrics.pushgateway', `"${c.metrics.pushgateway}" is not an http(s) URL`);
    }
  }
}

function checkRotation(r: RawConfig['rotation'], add: Add): void {
  if (parseDuration(r.retainSuperseded) === undefined) {
    add('rotation.retainSuperseded', `"${r.retainSuperseded}" is not a duration (e.g. 24h, 90m, 7d, 0)`);
  }
  r.insecureRegistries.forEach((h, k) => {
    if (!HOST_PORT.test(h)) add(`rotation.insecureRegistries[${k}]`, `"${h}" is not a host[:port]`);
  });
  for (const h of Object.keys(r.registryCaFiles))
    if (!HOST_PORT.test(h))
      add(`rotation.registryCaFiles["${h}"]`, 'not a registry host[:port] (as in 10.0.0.5:5000)');
}
