/**
 * The MutatingAdmissionPolicy's per-target objects, derived from the config and what each target wants
 * now. Pure. The policy itself is static (deploy/components/admission/policy.yaml); per target the rotator
 * keeps, in its own namespace, a param ConfigMap naming the current secret, and cluster-wide one binding per
 * way the target selects namespaces (its selector; its names), so the policy runs exactly where the target
 * does. Exclude globs travel in the param as one regular expression the mutation checks against the
 * namespace's name (label selectors cannot say "not kube-*").
 */
import type { Target } from '../config/types.ts';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, TARGET_LABEL } from '../kube/labels.ts';
import type { Requirement } from '../kube/selector.ts';
import type { DesiredSecret } from '../rotation/unit/types.ts';
import type { RawDoc } from './kube.ts';

/** On every binding and param: which policy (install) they belong to. */
export const POLICY_LABEL = 'regcred-rotator.io/admission-policy';
export const DEFAULT_POLICY = 'regcred-rotator-inject';

export interface PolicyObjects {
  params: RawDoc[];
  bindings: RawDoc[];
  /** Targets that cannot be expressed as bindings, and why. */
  skipped: { target: string; why: string }[];
}

type LabelSelector = { matchExpressions: { key: string; operator: string; values?: string[] }[] };

/** A parsed selector as a LabelSelector; undefined when it uses `>`/`<` (namespace selectors cannot). */
export function labelSelector(reqs: readonly Requirement[]): LabelSelector | undefined {
  const out: LabelSelector['matchExpressions'] = [];
  for (const r of reqs) {
    switch (r.op) {
      case 'gt':
      case 'lt':
        return undefined;
      case 'exists':
      case 'notexists':
        out.push({ key: r.key, operator: r.op === 'exists' ? 'Exists' : 'DoesNotExist' });
        break;
      case 'in':
      case 'notin':
        out.push({ key: r.key, operator: r.op === 'in' ? 'In' : 'NotIn', values: [...r.values] });
    }
  }
  return { matchExpressions: out };
}

/** The exclude globs as one anchored alternative ('' when none), for CEL's `matches`. */
export const excludePattern = (t: Target): string =>
  t.excludeRes.length === 0 ? '' : t.excludeRes.map((re) => `(${re.source})`).join('|');

export function policyObjects(
  policy: string,
  namespace: string,
  targets: readonly Target[],
  desired: readonly DesiredSecret[],
): PolicyObjects {
  const out: PolicyObjects = { params: [], bindings: [], skipped: [] };
  for (const t of targets) {
    const d = desired.find((x) => x.target === t.name);
    if (!d) continue; // not ready this pass: its objects stay as they are
    const labels = { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [TARGET_LABEL]: t.name, [POLICY_LABEL]: policy };
    const param = `${policy}-${t.name}`;
    const selectors: [string, LabelSelector][] = [];
    if (t.selector !== undefined) {
      const s = labelSelector(t.selector);
      if (!s) {
        out.skipped.push({
          target: t.name,
          why: 'its selector uses > or <, which a namespace selector cannot',
        });
        continue;
      }
      selectors.push([param, s]);
    }
    if (t.namespaces.names?.length)
      selectors.push([
        t.selector === undefined ? param : `${param}-names`,
        {
          matchExpressions: [
            { key: 'kubernetes.io/metadata.name', operator: 'In', values: [...t.namespaces.names] },
          ],
        },
      ]);
    out.params.push({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: param, namespace, labels },
      data: {
        secretName: d.name,
        secretBase: t.secretName,
        serviceAccounts: d.serviceAccounts === '*' ? '*' : d.serviceAccounts.join(','),
        exclude: excludePattern(t),
      },
    });
    for (const [name, namespaceSelector] of selectors)
      out.bindings.push({
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'MutatingAdmissionPolicyBinding',
        metadata: { name, labels },
        spec: {
          policyName: policy,
          paramRef: { name: param, namespace, parameterNotFoundAction: 'Allow' },
          matchResources: { namespaceSelector },
        },
      });
  }
  return out;
}
