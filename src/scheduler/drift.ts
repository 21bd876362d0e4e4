import type { Target } from '../config/types.ts';
import { DOCKERCONFIGJSON_KEY } from '../kube/labels.ts';
import type { NamespaceObject, SecretObject, ServiceAccountObject } from '../kube/types.ts';
import { selectNamespaces } from '../rotation/batch/scope.ts';
import type { DesiredSecret } from '../rotation/unit/types.ts';

/**
 * What the scheduler knows between runs — the targets, what each wants (from the last full pass, which
 * read the store), and the namespaces the watch has seen — and the local checks that decide whether an
 * event can need work. Pure: no I/O.
 */
export class DriftModel {
  readonly #targets: readonly Target[];
  readonly #desired = new Map<string, DesiredSecret>();
  readonly namespaces = new Map<string, NamespaceObject>();
  /** Without a namespace watch (names-only configs), named namespaces are assumed to exist. */
  readonly #assumeNamed: boolean;

  constructor(targets: readonly Target[], assumeNamed: boolean) {
    this.#targets = targets;
    this.#assumeNamed = assumeNamed;
  }

  setDesired(desired: readonly DesiredSecret[]): void {
    this.#desired.clear();
    for (const d of desired) this.#desired.set(d.target, d);
  }

  get ready(): boolean {
    return this.#desired.size > 0;
  }

  /** The desired secrets of the targets that cover `ns` now. */
  covering(ns: string): DesiredSecret[] {
    const obj =
      this.namespaces.get(ns) ??
      (this.#assumeNamed ? { name: ns, labels: {}, terminating: false } : undefined);
    if (!obj) return [];
    return this.#targets.flatMap((t) => {
      const d = this.#desired.get(t.name);
      return d && selectNamespaces(t, [obj]).namespaces.length === 1 ? [d] : [];
    });
  }

  /** The names of the targets that cover `ns` now, as one comparable string ('' when none). */
  coveringTargets(ns: string): string {
    return this.covering(ns)
      .map((d) => d.target)
      .join(',');
  }

  /** A ServiceAccount some covering target selects that does not list that target's secret. */

  serviceAccountDrifted(sa: ServiceAccountObject): boolean {
    return this.covering(sa.namespace).some(
      (d) =>
        (d.serviceAccounts === '*' || d.serviceAccounts.includes(sa.name)) &&
        !sa.imagePullSecrets.includes(d.name),
    );
  }

  /** Our current secret deleted, or holding other data than desired. */
  secretDrifted(s: SecretObject, deleted: boolean): boolean {
    const d = this.covering(s.namespace).find((x) => x.name === s.name);
    if (!d) return false;
    return deleted || s.data[DOCKERCONFIGJSON_KEY] !== d.dataB64.reveal();
  }

  /** Namespaces (covered) where a listing shows a selected ServiceAccount or a current secret out of place. */
  driftedIn(secrets: readonly SecretObject[], sas: readonly ServiceAccountObject[]): Set<string> {
    const out = new Set<string>();
    for (const sa of sas) if (this.serviceAccountDrifted(sa)) out.add(sa.namespace);
    const present = new Set(secrets.map((s) => `${s.namespace}/${s.name}`));
    for (const s of secrets) if (this.secretDrifted(s, false)) out.add(s.namespace);
    for (const ns of this.#known())
      if (this.covering(ns).some((d) => !present.has(`${ns}/${d.name}`))) out.add(ns);
    return out;
  }

  #known(): Iterable<string> {
    if (!this.#assumeNamed) return this.namespaces.keys();
    return new Set(this.#targets.flatMap((t) => t.namespaces.names ?? []));
  }
}
