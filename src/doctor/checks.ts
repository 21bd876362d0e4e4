import { decodePullSecret, type Decoded } from '../credentials/decode.ts';
import type { RegistryCredential } from '../credentials/dockerconfig.ts';
import { DOCKERCONFIGJSON_TYPE, isManaged } from '../kube/labels.ts';
import type { EventRecord } from '../kube/gateway.ts';
import { isLivePod, type PodObject, type SecretObject, type ServiceAccountObject } from '../kube/types.ts';
import { pullCause } from './events.ts';
import { imageRegistry, keyServes } from './image-ref.ts';

export type Severity = 'error' | 'warning' | 'info';

export interface Finding {
  severity: Severity;
  namespace: string;
  object: string;
  problem: string;
  fix: string;
}

export interface NamespaceView {
  namespace: string;
  secrets: SecretObject[];
  serviceAccounts: ServiceAccountObject[];
  pods: PodObject[];
  events: EventRecord[];
}

/** What each check sees: the namespace's objects, indexed, and where findings go. */
interface Check {
  v: NamespaceView;
  ns: string;
  byName: Map<string, SecretObject>;
  live: PodObject[];
  rotateFix: string;
  looksManaged: (name: string) => boolean;
  add: (severity: Severity, object: string, problem: string, fix: string) => void;
}

/** Everything `doctor` can tell from the objects alone (registry logins are checked separately). */
export function checkNamespace(v: NamespaceView, looksManaged: (name: string) => boolean): Finding[] {
  const out: Finding[] = [];
  const ns = v.namespace;
  const c: Check = {
    v,
    ns,
    byName: new Map(v.secrets.map((s) => [s.name, s])),
    live: v.pods.filter(isLivePod),
    rotateFix: `regcred-rotator --rotate-now -n ${ns}`,
    looksManaged,
    add: (severity, object, problem, fix) => out.push({ severity, namespace: ns, object, problem, fix }),
  };
  missingOnServiceAccounts(c);
  missingOnPods(c);
  const decoded = unreadableSecrets(c);
  registriesWithoutCredentials(c, decoded);
  kubeletEvents(c);
  return out;
}

function missingOnServiceAccounts(c: Check): void {
  for (const sa of c.v.serviceAccounts) {
    for (const name of sa.imagePullSecrets) {
      if (c.byName.has(name)) continue;
      c.add(
        'error',
        `serviceaccount/${sa.name}`,
        `references pull secret "${name}", which does not exist: new pods log FailedToRetrieveImagePullSecret and private pulls fail`,
        c.looksManaged(name)
          ? `run \`${c.rotateFix}\` (it repoints ServiceAccounts at the current secret)`
          : `create secret ${name}, or remove the entry with \`kubectl -n ${c.ns} edit serviceaccount ${sa.name}\` (not \`kubectl patch\`: it replaces the whole list)`,
      );
    }
  }
}

function missingOnPods(c: Check): void {
  for (const p of c.live) {
    const missing = p.imagePullSecrets.filter((n) => !c.byName.has(n));
    if (missing.length === 0) continue;
    c.add(
      'error',
      `pod/${p.name}`,
      `references missing pull secret${missing.length > 1 ? 's' : ''} ${missing.map((m) => `"${m}"`).join(', ')}: its next image pull (restart, reschedule, node drain) fails`,
      p.owner
        ? `restart it so new pods take the ServiceAccount's current secrets: \`kubectl -n ${c.ns} rollout restart ${p.owner.toLowerCase()}\``
        : `recreate the pod (\`kubectl -n ${c.ns} delete pod ${p.name}\` if a controller owns it)`,
    );
  }
}

/** Referenced secrets the kubelet cannot read; returns every referenced secret decoded. */
function unreadableSecrets(c: Check): Map<string, Decoded> {
  const referenced = new Set<string>([
    ...c.v.serviceAccounts.flatMap((s) => s.imagePullSecrets),
    ...c.live.flatMap((p) => p.imagePullSecrets),
  ]);
  const decoded = new Map<string, Decoded>();
  for (const name of [...referenced].sort()) {
    const s = c.byName.get(name);
    if (!s) continue;
    const d = decodePullSecret(s);
    decoded.set(name, d);
    if (d.ok) continue;
    const wrongType = s.type !== DOCKERCONFIGJSON_TYPE && s.type !== 'kubernetes.io/dockercfg';
    c.add(
      'error',
      `secret/${name}`,
      wrongType
        ? `is used as a pull secret but has type ${s.type}: the kubelet only reads kubernetes.io/dockerconfigjson`
        : `does not parse as a .dockerconfigjson (${d.why}): the kubelet then fails EVERY pull of pods listing it, even with other valid secrets`,
      isManaged(s.labels)
        ? `run \`${c.rotateFix}\` to rewrite it`
        : `recreate it: \`kubectl -n ${c.ns} create secret docker-registry ${name} --docker-server=... \` (type is immutable: delete it first), or let regcred-rotator manage it`,
    );
  }
  return decoded;
}

function registriesWithoutCredentials(c: Check, decoded: Map<string, Decoded>): void {
  for (const p of c.live) {
    const creds = p.imagePullSecrets.flatMap((n) => {
      const d = decoded.get(n);
      return d?.ok ? d.creds : [];
    });
    if (creds.length === 0 && p.imagePullSecrets.length === 0) continue;
    for (const image of new Set(p.images)) {
      if (creds.some((x) => keyServes(x.registry, image))) continue;
      c.add(
        'warning',
        `pod/${p.name}`,
        `pulls ${image} from ${imageRegistry(image)}, but none of its pull secrets has credentials for that registry (keys: ${[...new Set(creds.map((x) => x.registry))].join(', ') || 'none'})`,
        `if ${imageRegistry(image)} is private, add it to a target's \`registry\` list, or fix the secret's "auths" key`,
      );
    }
  }
}

/** The kubelet's own account of failed pulls: one finding per pod and cause, the most specific first. */
function kubeletEvents(c: Check): void {
  const seen = new Set<string>();
  for (const e of c.v.events) {
    const cause = pullCause(e, c.ns);
    if (!cause) continue;
    const object = `${e.involvedKind.toLowerCase()}/${e.involvedName}`;
    if (seen.has(`${object}\u0000${cause.cause}`)) continue;
    seen.add(`${object}\u0000${cause.cause}`);
    c.add(
      e.reason === 'FailedToRetrieveImagePullSecret' ? 'warning' : 'error',
      object,
      `cannot pull: ${cause.cause} (kubelet event ${e.reason}${e.count > 1 ? ` x${e.count}` : ''})`,
      cause.fix,
    );
  }
}

/** Pull secrets worth a registry login: referenced, parseable. */
export function secretsToVerify(v: NamespaceView): { secret: string; cred: RegistryCredential }[] {
  const referenced = new Set([
    ...v.serviceAccounts.flatMap((s) => s.imagePullSecrets),
    ...v.pods.filter(isLivePod).flatMap((p) => p.imagePullSecrets),
  ]);
  const out: { secret: string; cred: RegistryCredential }[] = [];
  for (const s of v.secrets) {
    if (!referenced.has(s.name)) continue;
    const d = decodePullSecret(s);
    if (d.ok) for (const cred of d.creds) out.push({ secret: s.name, cred });
  }
  return out;
}
