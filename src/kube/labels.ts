/** Every label and annotation key the rotator reads or writes, in one place. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'regcred-rotator';
export const TARGET_LABEL = 'regcred-rotator.io/target';

/** Non-secret, human-readable version of the source (Vault `mount/path@5`, Key Vault version, or the id). */
export const SOURCE_REVISION_ANNOTATION = 'regcred-rotator.io/source-revision';
export const SOURCE_UPDATED_AT_ANNOTATION = 'regcred-rotator.io/source-updated-at';
/** When the data this Secret holds was written (creation, or an in-place/refresh update). */
export const ROTATED_AT_ANNOTATION = 'regcred-rotator.io/rotated-at';
/** Random per-target salt that keeps Secret names from being a digest of the credentials (rotation/naming.ts). */
export const NAME_SALT_ANNOTATION = 'regcred-rotator.io/name-salt';
export const REGISTRIES_ANNOTATION = 'regcred-rotator.io/registries';
export const STORE_ANNOTATION = 'regcred-rotator.io/store';
/** The revision id (salted digest) of the data this Secret holds; equals the name suffix until refreshed. */
export const REVISION_ID_ANNOTATION = 'regcred-rotator.io/revision-id';
/** On the run Lease: the targets this install has managed (comma-separated). */
export const TARGETS_ANNOTATION = 'regcred-rotator.io/targets';
/**
 * On the run Lease: which of those targets went together in one config (`a,b;c`), so that installs sharing a
 * Lease tell their own removed targets from each other's (kube/lease-groups.ts).
 */
export const TARGET_GROUPS_ANNOTATION = 'regcred-rotator.io/target-groups';

export const DOCKERCONFIGJSON_TYPE = 'kubernetes.io/dockerconfigjson';
export const DOCKERCONFIGJSON_KEY = '.dockerconfigjson';

export const MANAGED_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`;

/** The label selector of our Secrets, of these targets only (of every target when none are given). */
export const managedSelector = (targets?: readonly string[]): string =>
  targets?.length ? `${MANAGED_SELECTOR},${TARGET_LABEL} in (${targets.join(',')})` : MANAGED_SELECTOR;

export function isManaged(labels: Readonly<Record<string, string>>): boolean {
  return labels[MANAGED_BY_LABEL] === MANAGED_BY_VALUE;
}
