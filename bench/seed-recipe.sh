#!/usr/bin/env bash
# The seed recipe this tool replaces, verbatim in spirit (SPEC §1, KUBE-FACTS.md): a loop of kubectl.
# Usage: seed-recipe.sh NAMESPACE... (REGISTRY, REG_USER, REG_PASS in the environment; password in argv!)
set -u
K="$REGCRED_STACK_KUBECTL"
for ns in "$@"; do
  "$K" create secret docker-registry regcred-new --docker-server="$REGISTRY" --docker-username="$REG_USER" --docker-password="$REG_PASS" -n "$ns" >/dev/null
  "$K" patch serviceaccount default -n "$ns" -p '{"imagePullSecrets":[{"name":"regcred-new"}]}' >/dev/null
  "$K" delete secret regcred -n "$ns" >/dev/null
  "$K" get secret regcred-new -n "$ns" -o yaml | sed 's/regcred-new/regcred/' | "$K" apply -f - >/dev/null 2>&1
  "$K" delete secret regcred-new -n "$ns" >/dev/null
done
exit 0
