/**
 * Which cluster a bench fills: the stack's main cluster, or the cluster BENCH_KUBECONFIG names (the
 * throw-away bench cluster of test/stack/bench-cluster.sh, whose `start` prints the BENCH_* lines). Imported
 * first by the benches: the test helpers and the spawned CLI read KUBECONFIG, the minimal client
 * REGCRED_STACK_APISERVER, the idle bench REGCRED_STACK_AUDIT_LOG, so those are pointed at the bench cluster
 * before anything talks to a cluster. The registries and stores stay the stack's.
 */
const kubeconfig = process.env['BENCH_KUBECONFIG'];
if (kubeconfig) {
  const apiserver = process.env['BENCH_APISERVER'];
  const audit = process.env['BENCH_AUDIT_LOG'];
  if (!apiserver || !audit)
    throw new Error(
      'BENCH_KUBECONFIG needs BENCH_APISERVER and BENCH_AUDIT_LOG too (bench-cluster.sh start prints all three)',
    );
  process.env['KUBECONFIG'] = kubeconfig;
  process.env['REGCRED_STACK_APISERVER'] = apiserver;
  process.env['REGCRED_STACK_AUDIT_LOG'] = audit;
}

/** For the results file: which cluster the bench ran in. */
export const benchCluster = kubeconfig ? `bench cluster (${process.env['BENCH_APISERVER']})` : 'the stack';

/**
 * For the results file: which build was measured — this checkout's bundle, or another one (BENCH_CLI), named
 * by BENCH_CLI_LABEL (e.g. the commit it was built from) rather than by a path of this machine.
 */
export const cliLabel =
  process.env['BENCH_CLI'] === undefined
    ? 'this checkout (dist/cli/main.js)'
    : `another build: ${process.env['BENCH_CLI_LABEL'] ?? 'BENCH_CLI'}`;
