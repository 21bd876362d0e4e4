#!/usr/bin/env bash
# The seed recipe this tool replaces, verbatim in spirit (SPEC §1, KUBE-FACTS.md): a loop of kubectl.
# Usage: seed-recipe.sh NAMESPACE... (REGISTRY, REG_USER, REG_PASS in the environment; password in argv!)
# SECRET names the pull secret (default regcred); a team with two registries runs it once per registry.
set -u
K="$REGCRED_STACK_KUBECTL"
S="${SECRET:-regcred}"
for ns in "$@"; do
  "$K" create secret docker-registry "$S-new" --docker-server="$REGISTRY" --docker-username="$REG_USER" --docker-password="$REG_PASS" -n "$ns" >/dev/null
  "$K" patch serviceaccount default -n "$ns" -p "{\"imagePullSecrets\":[{\"name\":\"$S-new\"}]}" >/dev/null
  "$K" delete secret "$S" -n "$ns" >/dev/null
  "$K" get secret "$S-new" -n "$ns" -o yaml | sed "s/$S-new/$S/" | "$K" apply -f - >/dev/null 2>&1
  "$K" delete secret "$S-new" -n "$ns" >/dev/null
done
exit 0
