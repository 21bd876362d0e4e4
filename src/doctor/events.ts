import type { EventRecord } from '../kube/gateway.ts';

/** What a kubelet pull Event says went wrong, and what to do about it. */
export interface PullCause {
  cause: string;
  fix: string;
}

/**
 * The kubelet's pull-related Events as a cause: `Failed` (a refused, missing or unreachable image, or a pull
 * secret the kubelet cannot parse — that one never shows as ErrImagePull), `BackOff` on pulling,
 * `FailedToRetrieveImagePullSecret`. Returns undefined for Events that are not about pulls.
 */
export function pullCause(e: EventRecord, ns: string): PullCause | undefined {
  const m = e.message;
  const rotate = `regcred-rotator --rotate-now -n ${ns}`;
  if (e.reason === 'FailedToRetrieveImagePullSecret')
    return {
      cause: `a pull secret the pod lists does not exist (${/\(([^)]*)\)/.exec(m)?.[1] ?? '?'}), and the pull failed without it`,
      fix: 'see the missing-secret findings: recreate the pod after its ServiceAccount points at existing secrets',
    };
  if (e.reason === 'BackOff' && !/pulling image/i.test(m)) return undefined;
  if (e.reason !== 'Failed' && e.reason !== 'BackOff') return undefined;
  if (/json: cannot unmarshal|illegal base64|invalid character|unexpected end of JSON/i.test(m))
    return {
      cause: `a pull secret the pod lists does not parse, so the kubelet cannot build its keyring and starts no container (the pod never reaches ErrImagePull): ${m.replace(/^Error: /, '').slice(0, 120)}`,
      fix: 'fix or remove the secret named in the "does not parse" finding; the pod then starts on its own',
    };
  if (e.reason === 'Failed' && !/pull|image/i.test(m)) return undefined;
  if (/401 Unauthorized|unauthorized|authentication required/i.test(m))
    return {
      cause: 'the registry refused the credentials the pod presented (401)',
      fix: `put working credentials in the store and run \`${rotate}\`; the registry-login findings name the secret it refused`,
    };
  if (/403 Forbidden|denied/i.test(m))
    return {
      cause: 'the registry denied these credentials access to the repository (403)',
      fix: 'grant the registry user pull access to the repository, or use credentials that have it',
    };
  if (/not found|manifest unknown|404/i.test(m))
    return { cause: 'the image or tag does not exist in the registry', fix: 'check the image name and tag' };
  if (/x509|certificate/i.test(m))
    return {
      cause: "the node does not trust the registry's TLS certificate",
      fix: "add the registry's CA to the container runtime's trust (containerd: hosts.toml `ca`)",
    };
  if (/no such host|connection refused|i\/o timeout|dial tcp/i.test(m))
    return {
      cause: 'the node cannot reach the registry',
      fix: 'check the registry address, DNS and network from the node',
    };
  if (/Back-off pulling image|ImagePullBackOff|ErrImagePull/.test(m))
    return {
      cause: 'pulls keep failing (the kubelet is backing off)',
      fix: 'the Failed event of the same pod says why',
    };
  return {
    cause: 'the image pull failed',
    fix: `read the event in full: \`kubectl -n ${ns} describe ${e.involvedKind.toLowerCase()} ${e.involvedName}\``,
  };
}
