import { isRotatorError } from '../errors.ts';
import { DOCKERCONFIGJSON_KEY, DOCKERCONFIGJSON_TYPE } from '../kube/labels.ts';
import type { SecretObject } from '../kube/types.ts';
import { parseDockerConfigJson, type RegistryCredential } from './dockerconfig.ts';

/** A pull secret as the kubelet would read it: its credentials, or why it cannot be read. */
export type Decoded = { ok: true; creds: RegistryCredential[] } | { ok: false; why: string };

function parsed(name: string, text: () => string): Decoded {
  try {
    return { ok: true, creds: parseDockerConfigJson(text(), { store: 'secret', key: name }) };
  } catch (e) {
    const problem = isRotatorError(e) ? e.details['problem'] : undefined;
    return { ok: false, why: typeof problem === 'string' ? problem : 'it cannot be read' };
  }
}

/** Decodes a Secret the kubelet would use as a pull secret (kubernetes.io/dockerconfigjson or the legacy dockercfg). */
export function decodePullSecret(s: SecretObject): Decoded {
  const decode = (key: string) => Buffer.from(s.data[key] ?? '', 'base64').toString('utf8');
  // The legacy .dockercfg format is the `auths` map alone.
  if (s.type === 'kubernetes.io/dockercfg')
    return parsed(s.name, () => JSON.stringify({ auths: JSON.parse(decode('.dockercfg')) as unknown }));
  if (s.type !== DOCKERCONFIGJSON_TYPE) return { ok: false, why: `type is ${s.type}` };
  if (!s.data[DOCKERCONFIGJSON_KEY]) return { ok: false, why: 'it has no .dockerconfigjson key' };
  return parsed(s.name, () => decode(DOCKERCONFIGJSON_KEY));
}
