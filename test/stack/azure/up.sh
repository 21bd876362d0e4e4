# Sourced by up.sh: the Key Vault + Entra ID double (double.ts), its tenant, identities and roles.
# One tenant; apps with client secrets (a writer for tests, a reader, one without a role), a workload-identity
# app to federate with ServiceAccounts of our API server, managed identities (system-assigned, and two
# user-assigned: one with a role, one without). Entra reads the API server's issuer keys as it would a real
# cluster's OIDC issuer, so anonymous issuer discovery is allowed, as it is on AKS.
kubectl_ create clusterrolebinding regcred-stack-oidc-discovery \
  --clusterrole=system:service-account-issuer-discovery --group=system:unauthenticated >/dev/null
uuid() { cat /proc/sys/kernel/random/uuid; }
AZ_TENANT=$(uuid) AZ_VAULT=regcred-stack
AZ_WRITER=$(uuid) AZ_WRITER_SECRET="$(rand 32)" AZ_READER=$(uuid) AZ_READER_SECRET="$(rand 32)"
AZ_NOROLE=$(uuid) AZ_NOROLE_SECRET="$(rand 32)" AZ_WI=$(uuid)
AZ_MI_SYSTEM=$(uuid) AZ_MI_USER=$(uuid) AZ_MI_NOROLE=$(uuid) AZ_APPSERVICE_HEADER="$(rand 24)"
mkdir -p "$STACK_RUN/azure"
python3 - "$STACK_RUN/azure/config.json" <<PY
import json, sys, uuid
apps = [("writer", "$AZ_WRITER", "$AZ_WRITER_SECRET"), ("reader", "$AZ_READER", "$AZ_READER_SECRET"),
        ("norole", "$AZ_NOROLE", "$AZ_NOROLE_SECRET"), ("workload", "$AZ_WI", None)]
mis = [("system", "$AZ_MI_SYSTEM", True), ("user", "$AZ_MI_USER", False), ("user-norole", "$AZ_MI_NOROLE", False)]
c = {
  "tenantId": "$AZ_TENANT",
  "vaults": ["$AZ_VAULT"],
  "apps": [{"name": n, "clientId": i, "objectId": str(uuid.uuid4()), "secret": s, "federated": []} for n, i, s in apps],
  "managedIdentities": [{"name": n, "clientId": i, "objectId": str(uuid.uuid4()), "systemAssigned": sa} for n, i, sa in mis],
  "trustedIssuers": [{"issuer": "https://kubernetes.default.svc.cluster.local",
                      "jwksUrl": "https://$STACK_IP:$PORT_APISERVER/openid/v1/jwks"}],
  "appServiceHeader": "$AZ_APPSERVICE_HEADER",
}
principal = {a["name"]: a["objectId"] for a in c["apps"] + c["managedIdentities"]}
roles = {"writer": "Key Vault Secrets Officer", "reader": "Key Vault Secrets User", "workload": "Key Vault Secrets User",
         "system": "Key Vault Secrets User", "user": "Key Vault Secrets User"}
c["roleAssignments"] = [{"principalId": principal[n], "vault": "$AZ_VAULT", "role": r} for n, r in roles.items()]
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY
start azure "$STACK_NODE" "$HERE/azure/double.ts" "$STACK_RUN/azure/config.json" $PORT_AZURE $PORT_AZURE_MI \
  "$PKI/azure.crt" "$PKI/azure.key" "$PKI/ca.crt"
wait_for azure 20 curl -fsS "http://127.0.0.1:$PORT_AZURE_MI/healthz"
cat >>"$STACK_RUN/env.tmp" <<ENV
export REGCRED_STACK_AZURE_RESOLVE='$HERE/azure/resolve.ts'
export REGCRED_STACK_AZURE_TENANT='$AZ_TENANT'
export REGCRED_STACK_AZURE_VAULT_URL='https://$AZ_VAULT.vault.azure.net'
export REGCRED_STACK_AZURE_IMDS='http://127.0.0.1:$PORT_AZURE_MI'
export REGCRED_STACK_AZURE_APPSERVICE_ENDPOINT='http://127.0.0.1:$PORT_AZURE_MI/msi/token'
export REGCRED_STACK_AZURE_APPSERVICE_HEADER='$AZ_APPSERVICE_HEADER'
export REGCRED_STACK_AZURE_ADMIN='http://127.0.0.1:$PORT_AZURE_MI/_admin'
export REGCRED_STACK_AZURE_WRITER='$AZ_WRITER'
export REGCRED_STACK_AZURE_WRITER_SECRET='$AZ_WRITER_SECRET'
export REGCRED_STACK_AZURE_READER='$AZ_READER'
export REGCRED_STACK_AZURE_READER_SECRET='$AZ_READER_SECRET'
export REGCRED_STACK_AZURE_NOROLE='$AZ_NOROLE'
export REGCRED_STACK_AZURE_NOROLE_SECRET='$AZ_NOROLE_SECRET'
export REGCRED_STACK_AZURE_WORKLOAD='$AZ_WI'
export REGCRED_STACK_AZURE_MI_SYSTEM='$AZ_MI_SYSTEM'
export REGCRED_STACK_AZURE_MI_USER='$AZ_MI_USER'
export REGCRED_STACK_AZURE_MI_NOROLE='$AZ_MI_NOROLE'
ENV
