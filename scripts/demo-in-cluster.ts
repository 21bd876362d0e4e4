/**
 * `npm run demo`'s in-cluster step: the rotator the way users run it. Our image (built from the Dockerfile
 * here and pushed to the stack's private registry), `deploy/` applied with a kustomization on top (its own
 * namespace, the image, a config using OpenBao's Kubernetes auth from the pod), the rotator's own pull
 * secret provisioned once from outside, then a Job made from the CronJob rotates two app namespaces.
 * Everything it creates is deleted at the end. Run by scripts/demo.sh with the stack's environment.
 */
import { performance } from 'node:perf_hooks';
import { apply, projectImage, runJob, writeOverlay } from '../test/helpers/deploy.ts';
import { InCluster } from '../test/helpers/in-cluster.ts';
import { kubectl, pullSecretsOf, suffix } from '../test/helpers/stack.ts';

const say = (s: string) => process.stdout.write(`${s}\n`);
const seconds = (t0: number) => `${((performance.now() - t0) / 1000).toFixed(1)} s`;

const ns = `regcred-demo-${suffix()}`;
const c = new InCluster(ns, 'regcred-rotator');
try {
  let t0 = performance.now();
  const image = projectImage();
  say(`image ${image} (built from the Dockerfile with buildah and pushed in ${seconds(t0)})`);
  await c.setUp();
  apply(writeOverlay({ base: 'deploy', namespace: ns, image, config: c.config(), creds: c.creds(0) }));
  say(`kubectl apply -k: deploy/ in namespace ${ns} (Pod Security "restricted" enforced)`);
  await c.bootstrapOwnPullSecret();
  say(
    `its own pull secret, provisioned once from outside: ServiceAccount regcred-rotator → [${(await pullSecretsOf(ns, 'regcred-rotator')).join(', ')}]`,
  );
  t0 = performance.now();
  const j = await runJob('demo-1', { namespace: ns });
  say(
    `kubectl create job demo-1 --from=cronjob/regcred-rotator: ${j.succeeded ? 'Complete' : 'Failed'} in ${seconds(t0)}`,
  );
  const summary = j.logs
    .trim()
    .split('\n')
    .find((l) => l.includes('"msg":"run summary"'));
  say(`its log (JSON lines), the run summary: ${summary?.slice(0, 400) ?? '(missing)'}…`);
  for (const app of c.apps)
    say(`${app}: ServiceAccount default → [${(await pullSecretsOf(app)).join(', ')}]`);
  const uid = kubectl(
    '-n',
    ns,
    'get',
    'pod',
    j.pod,
    '-o',
    'jsonpath={.spec.securityContext.runAsUser}',
  ).stdout;
  say(`the Job's pod ran as uid ${uid}, read-only root filesystem, all capabilities dropped`);
  if (!j.succeeded) process.exitCode = 1;
} finally {
  await c.tearDown();
  kubectl(
    'delete',
    'clusterrole,clusterrolebinding,validatingadmissionpolicy,validatingadmissionpolicybinding',
    'regcred-rotator',
    '--ignore-not-found',
  );
}
