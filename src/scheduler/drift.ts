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
  /** The namespaces the Namespace watches show (only those the targets can select). */
  readonly namespaces = new Map<string, NamespaceObject>();
  /** Which namespaces each Namespace watch shows: one may show a namespace another no longer does. */
  readonly #shownBy = new Map<string, Set<string>>();
  /** Without a namespace watch (names-only configs), named namespaces are assumed to exist. */
  readonly #assumeNamed: boolean;

  constructor(targets: readonly Target[], assumeNamed: boolean) {
    this.#targets = targets;
    this.#assumeNamed = assumeNamed;
  }

  /** Namespace watch `source` listed everything it shows: that replaces what it showed before. */
  listedBy(source: string, items: readonly NamespaceObject[]): void {
    const before = this.#shownBy.get(source) ?? new Set<string>();
    const now = new Set(items.map((n) => n.name));
    this.#shownBy.set(source, now);
    for (const n of items) this.namespaces.set(n.name, n);
    for (const name of before) if (!now.has(name)) this.#forget(name);
  }

  /** Namespace watch `source` shows `n` (added, or changed). */
  seenBy(source: string, n: NamespaceObject): void {
    let shown = this.#shownBy.get(source);
    if (!shown) this.#shownBy.set(source, (shown = new Set()));
    shown.add(n.name);
    this.namespaces.set(n.name, n);
  }

  /** Namespace watch `source` no longer shows `name` (deleted, or no longer matching its selector). */
  goneFrom(source: string, name: string): void {
    this.#shownBy.get(source)?.delete(name);
    this.#forget(name);
  }

  #forget(name: string): void {
    for (const shown of this.#shownBy.values()) if (shown.has(name)) return;
    this.namespaces.delete(name);
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

  /** Namespaces (covered) where a page of ServiceAccounts shows a selected one out of place. */
  serviceAccountsDrifted(sas: readonly ServiceAccountObject[]): Set<string> {
    const out = new Set<string>();
    for (const sa of sas) if (this.serviceAccountDrifted(sa)) out.add(sa.namespace);
    return out;
  }

  /**
   * Namespaces (covered) where a whole list of our secrets — of one namespace when `within` is given, else
   * cluster-wide — shows a current secret out of place or missing.
   */
  secretsDrifted(secrets: readonly SecretObject[], within?: string): Set<string> {
    const out = new Set<string>();
    const present = new Set(secrets.map((s) => `${s.namespace}/${s.name}`));
    for (const s of secrets) if (this.secretDrifted(s, false)) out.add(s.namespace);
    for (const ns of within === undefined ? this.#known() : [within])
      if (this.covering(ns).some((d) => !present.has(`${ns}/${d.name}`))) out.add(ns);
    return out;
  }

  #known(): Iterable<string> {
    if (!this.#assumeNamed) return this.namespaces.keys();
    return new Set(this.#targets.flatMap((t) => t.namespaces.names ?? []));
  }
}
