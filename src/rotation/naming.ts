import { createHash, randomBytes } from 'node:crypto';
import { NAME_SALT_ANNOTATION, ROTATED_AT_ANNOTATION, TARGET_LABEL } from '../kube/labels.ts';
import type { SecretObject } from '../kube/types.ts';

/**
 * The revision id in a Secret's name. It is a digest of (salt, target, source revision). The salt is
 * random per target and kept in an annotation on the target's Secrets, so a name never is a plain
 * digest of the credentials (the file store's revision is a content digest; names are visible to anyone
 * who can read pods or ServiceAccounts, far more people than can read Secrets).
 */
export function revisionId(salt: string, target: string, sourceRevision: string): string {
  return createHash('sha256').update(`${salt}\n${target}\n${sourceRevision}`).digest('hex').slice(0, 10);
}

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
