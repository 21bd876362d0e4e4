/**
 * I5, the canary: everything a rotator run showed to the outside — stdout, stderr, its argv while it ran
 * (`/proc/<pid>/cmdline`), the Kubernetes Events it wrote, the metrics it pushed — collected in one place,
 * and then searched for every secret the test has seen, in every form a slip would take (the value, its
 * base64, the base64 of `user:value` as in a pull secret's `auth`).
 */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import type { CliResult } from './rotator.ts';
import { api, env } from './stack.ts';

export class LeakCanary {
  readonly #seen: string[] = [];
  #argv = 0;

  /** For runCli's `onSpawn`: the child's argv, read while it runs. */
  readonly onSpawn = (pid: number): void => {
    try {
      this.#seen.push(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
      this.#argv++;
    } catch {
      // already gone: nothing to read
    }
  };

  record(r: CliResult): CliResult {
    this.#seen.push(r.stdout, r.stderr);
    return r;
  }

  /** Every Event in these namespaces (the ones on our objects, and on the run Lease in the lock's). */
  async events(namespaces: readonly string[]): Promise<number> {
    let n = 0;
    for (const namespace of new Set(namespaces)) {
      const list = await api().listNamespacedEvent({ namespace });
      n += list.items.length;
      this.#seen.push(JSON.stringify(list.items));
    }
    return n;
  }

  /** What the Pushgateway holds for `job` (pushed by `--rotate-now` runs), in its exposition format. */
  async pushed(job: string): Promise<string> {
    const text = await (await fetch(`${env('REGCRED_STACK_PUSHGATEWAY')}/metrics`)).text();
    const mine = text
      .split('\n')
      .filter((l) => l.includes(`job="${job}"`))
      .join('\n');
    this.#seen.push(mine);
    return mine;
  }

  get argvRead(): number {
    return this.#argv;
  }

  get size(): number {
    return this.#seen.reduce((n, s) => n + s.length, 0);
  }

  /** No secret, in any of its forms, anywhere; `usernames` are the registry logins the secrets go with. */
  expectClean(secrets: Iterable<string>, usernames: Iterable<string>): void {
    const forms = new Set<string>();
    for (const s of secrets) {
      if (s.length < 8) continue; // a short value (a version number) would match by chance
      forms.add(s);
      forms.add(Buffer.from(s).toString('base64'));
      for (const u of usernames) forms.add(Buffer.from(`${u}:${s}`).toString('base64'));
    }
    const haystack = this.#seen.join('\n');
    for (const f of forms)
      expect(haystack.includes(f), `leaked a secret form of length ${f.length}`).toBe(false);
  }
}
