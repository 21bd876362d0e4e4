import { createHash, randomBytes } from 'node:crypto';
import {
  NAME_SALT_ANNOTATION,
  REVISION_ID_ANNOTATION,
  ROTATED_AT_ANNOTATION,
  TARGET_LABEL,
} from '../../kube/labels.ts';
import type { SecretObject } from '../../kube/types.ts';
import type { DesiredSecret } from './types.ts';

/**
 * The revision id in a Secret's name. It is a digest of (salt, target, source revision). The salt is
 * random per target and kept in an annotation on the target's Secrets, so a name never is a plain
 * digest of the credentials (the file store's revision is a content digest; names are visible to anyone
 * who can read pods or ServiceAccounts, far more people than can read Secrets).
 */
export function revisionId(salt: string, target: string, sourceRevision: string): string {
  return createHash('sha256')
    .update(`${salt}\n${target}\n${sourceRevision}`)
    .digest('hex')
    .slice(0, REVISION_ID_LENGTH);
}

/** Hex digits of the revision id in a swap-strategy name. */
export const REVISION_ID_LENGTH = 10;

/** A swap-strategy Secret's name: `<secretName>-<revision id>`. */
export const swapName = (base: string, id: string): string => `${base}-${id}`;

/** Whether `name` has the shape of one of the names `base` gives (the in-place name, or a swap name). */
export function isNameOf(base: string, name: string): boolean {
  if (name === base) return true;
  const id = name.slice(base.length + 1);
  return name.startsWith(`${base}-`) && id.length === REVISION_ID_LENGTH && /^[0-9a-f]+$/.test(id);
}

/** The target's `secretName` a desired secret's name was made from. */
export const baseName = (d: Pick<DesiredSecret, 'strategy' | 'name' | 'revisionId'>): string =>
  d.strategy === 'swap' ? d.name.slice(0, d.name.length - d.revisionId.length - 1) : d.name;

/**
 * Names in `pullSecrets` (a pod's) that have the shape of `d`'s target's names but are not the one it wants
 * now: a pod admitted with an earlier revision's name (the ServiceAccount plugin's cached copy, an admission
 * policy's parameter not yet updated, a webhook that answered while a rotation went on).
 */
export function earlierNames(
  d: Pick<DesiredSecret, 'strategy' | 'name' | 'revisionId'>,
  pullSecrets: readonly string[],
): string[] {
  const base = baseName(d);
  return pullSecrets.filter((n) => n !== d.name && isNameOf(base, n));
}

/** What a dry run of a first provisioning shows for a name whose revision id is not chosen yet. */
export const provisionalName = (d: { name: string; revisionId: string }): string =>
  `${d.name.slice(0, -d.revisionId.length)}${'?'.repeat(d.revisionId.length)}`;

export function newSalt(): string {
  return randomBytes(16).toString('hex');
}

/** The salt a target already uses: the one on its most recently rotated Secret, if any. */
export function existingSalt(target: string, secrets: Iterable<SecretObject>): string | undefined {
  let best: { salt: string; at: string } | undefined;
  for (const s of secrets) {
    if (s.labels[TARGET_LABEL] !== target) continue;
    const salt = s.annotations[NAME_SALT_ANNOTATION];
    if (!salt || !/^[0-9a-f]{32}$/.test(salt)) continue;
    const at = s.annotations[ROTATED_AT_ANNOTATION] ?? '';
    if (!best || at > best.at || (at === best.at && salt < best.salt)) best = { salt, at };
  }
  return best?.salt;
}

/**
 * The Secret a target's ServiceAccounts should use now, among that target's Secrets in one namespace: the
 * stable name (in-place), or the newest one created for the revision it holds (swap) — a superseded secret
 * that was refreshed holds newer data under an older name, so "newest write" would pick the wrong one.
 */
export function currentSecret(
  base: string,
  strategy: 'swap' | 'in-place',
  ours: readonly SecretObject[],
): SecretObject | undefined {
  if (strategy === 'in-place') return ours.find((s) => s.name === base) ?? ours[0];
  const created = (s: SecretObject) => s.createdAt?.getTime() ?? 0;
  const own = ours
    .filter((s) => s.name === swapName(base, s.annotations[REVISION_ID_ANNOTATION] ?? ''))
    .sort((a, b) => created(b) - created(a));
  return own[0] ?? ours[0];
}
