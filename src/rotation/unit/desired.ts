import type { Target } from '../../config/types.ts';
import type { ResolvedCredentials } from '../../credentials/resolve.ts';
import { Sensitive } from '../../base/sensitive.ts';
import {
  NAME_SALT_ANNOTATION,
  REGISTRIES_ANNOTATION,
  REVISION_ID_ANNOTATION,
  SOURCE_REVISION_ANNOTATION,
  SOURCE_UPDATED_AT_ANNOTATION,
  STORE_ANNOTATION,
} from '../../kube/labels.ts';
import { revisionId, swapName } from './naming.ts';
import type { DesiredSecret } from './types.ts';

/** The Secret a target wants everywhere, from its resolved credentials and its name salt. */
export function desiredSecret(t: Target, r: ResolvedCredentials, salt: string): DesiredSecret {
  const id = revisionId(salt, t.name, r.revision);
  const revision = r.version ?? `r-${id}`;
  const annotations: Record<string, string> = {
    [SOURCE_REVISION_ANNOTATION]: revision,
    [REVISION_ID_ANNOTATION]: id,
    [NAME_SALT_ANNOTATION]: salt,
    [REGISTRIES_ANNOTATION]: r.creds.map((c) => c.registry).join(','),
    [STORE_ANNOTATION]: t.store,
  };
  if (r.updatedAt) annotations[SOURCE_UPDATED_AT_ANNOTATION] = r.updatedAt.toISOString();
  return {
    target: t.name,
    strategy: t.strategy,
    name: t.strategy === 'swap' ? swapName(t.secretName, id) : t.secretName,
    revisionId: id,
    revision,
    dataB64: new Sensitive(Buffer.from(r.dockerConfigJson.reveal(), 'utf8').toString('base64')),
    annotations,
    serviceAccounts: t.serviceAccounts.includes('*') ? '*' : t.serviceAccounts,
  };
}
