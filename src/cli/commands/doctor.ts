import { existsSync } from 'node:fs';
import { loadConfig } from '../../config/load.ts';
import type { Config } from '../../config/types.ts';
import { verifyRegistry } from '../../credentials/verify.ts';
import { checkNamespace, secretsToVerify, type Finding } from '../../doctor/checks.ts';
import { firstPodFindings } from '../../doctor/first-pod.ts';
import { RotatorError } from '../../errors.ts';
import { observeNamespaces } from '../../rotation/batch/observe.ts';
import { isNameOf } from '../../rotation/unit/naming.ts';
import { selectNamespaces } from '../../rotation/batch/scope.ts';
import { EXIT, type ExitCode } from '../exit-codes.ts';
import { configPath, connect, makeLogger, type GlobalOptions } from '../runtime.ts';
import { renderTable } from '../table.ts';

/** `doctor [-n NS]`: why pods fail to pull, checked object by object, each finding with its fix. */
export async function doctor(g: GlobalOptions, output: 'table' | 'json'): Promise<ExitCode> {
  const logger = makeLogger({ ...g, logLevel: g.logLevel ?? 'warn' });
  const file = configPath(g);
  const config: Config | undefined = existsSync(file) ? loadConfig(file) : undefined;
  const kube = connect(g, logger);
  try {
    let namespaces = g.namespace ?? [];
    if (namespaces.length === 0) {
      if (!config)
        throw new RotatorError('USAGE', `no config at ${file}: name the namespaces to check with -n`);
      const all = await observeNamespaces(kube.gateway, config.targets, logger);
      namespaces = [...new Set(config.targets.flatMap((t) => selectNamespaces(t, all).namespaces))].sort();
    }
    const bases = config?.targets.map((t) => t.secretName) ?? [];
    const looksManaged = (name: string) => bases.some((b) => isNameOf(b, name));
    const findings: Finding[] = [];
    const verified = new Map<string, Awaited<ReturnType<typeof verifyRegistry>>>();
    for (const ns of namespaces) {
      const [secrets, serviceAccounts, pods, events] = await Promise.all([
        kube.gateway.listSecretsIn(ns),
        kube.gateway.listServiceAccounts([ns]),
        kube.gateway.listPods([ns]),
        kube.gateway.listEvents(ns),
      ]);
      const view = { namespace: ns, secrets, serviceAccounts, pods, events };
      findings.push(...checkNamespace(view, looksManaged), ...firstPodFindings(view, looksManaged));
      for (const { secret, cred } of secretsToVerify(view)) {
        const key = `${cred.registry}\u0000${cred.username}\u0000${cred.password.reveal()}`;
        let v = verified.get(key);
        if (!v) {
          v = await verifyRegistry(cred, {
            insecure: config?.rotation.insecureRegistries ?? [],
            timeoutMs: 10_000,
          });
          verified.set(key, v);
        }
        if (v.outcome === 'rejected') {
          findings.push({
            severity: 'error',
            namespace: ns,
            object: `secret/${secret}`,
            problem: `registry ${v.registry} rejects its credentials for user "${cred.username}" (${v.detail})`,
            fix: `put working credentials in the store, then \`regcred-rotator --rotate-now -n ${ns}\``,
          });
        } else if (v.outcome === 'unreachable' || v.outcome === 'not-a-registry') {
          findings.push({
            severity: 'warning',
            namespace: ns,
            object: `secret/${secret}`,
            problem: `could not log in to ${v.registry}: ${v.detail}`,
            fix: 'check the registry address and that it is reachable from here',
          });
        }
      }
    }
    if (output === 'json') process.stdout.write(`${JSON.stringify({ namespaces, findings }, null, 2)}\n`);
    else if (findings.length === 0)
      process.stdout.write(
        `no problems found in ${namespaces.length} namespace${namespaces.length === 1 ? '' : 's'} (${namespaces.join(', ')})\n`,
      );
    else {
      const order = { error: 0, warning: 1, info: 2 };
      const rows = [...findings].sort(
        (a, b) => order[a.severity] - order[b.severity] || (a.namespace < b.namespace ? -1 : 1),
      );
      process.stdout.write(
        `${renderTable(
          ['SEVERITY', 'NAMESPACE', 'OBJECT', 'PROBLEM', 'FIX'],
          rows.map((f) => [f.severity, f.namespace, f.object, f.problem, f.fix]),
        )}\n`,
      );
    }
    return findings.some((f) => f.severity === 'error') ? EXIT.failed : EXIT.ok;
  } finally {
    await kube.clients.close();
  }
}
