# Sourced by up.sh after azure/up.sh: the Azure Container Registry double (acr.ts) and the distribution
# registry behind it. One registry `regcredstack` with a scope map reading `regcred/busybox` and a token
# `ci-pull` (no passwords yet: ACR creates tokens without any), the busybox image in it, and RBAC on ARM for
# the Entra double's apps: the writer app holds the custom token-rotator role (it is also the vault's
# writer, as an issuer's identity would be), the reader app the built-in registry contributor role (it sets
# up tokens in tests), the norole app nothing. Also runs standalone against a running stack:
#   bash test/stack/acr/up.sh   (when acr and acr-registry are not running)
if [[ -z ${STACK_RUN:-} ]]; then # standalone: the stack's settings and the Azure part's identities
  HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  source "$HERE/lib.sh"
  source "$STACK_RUN/env"
  for c in acr-registry acr; do ! pid_alive "$c" || die "$c is already running"; done
  AZ_TENANT=$REGCRED_STACK_AZURE_TENANT AZ_WRITER=$REGCRED_STACK_AZURE_WRITER
  AZ_WRITER_SECRET=$REGCRED_STACK_AZURE_WRITER_SECRET AZ_READER=$REGCRED_STACK_AZURE_READER
  AZ_READER_SECRET=$REGCRED_STACK_AZURE_READER_SECRET AZ_NOROLE=$REGCRED_STACK_AZURE_NOROLE
  AZ_NOROLE_SECRET=$REGCRED_STACK_AZURE_NOROLE_SECRET
  ACR_ENV="$STACK_RUN/env"
  sed -i '/^export REGCRED_STACK_ACR_/d' "$ACR_ENV"
fi
ACR_ENV="${ACR_ENV:-$STACK_RUN/env.tmp}"
ACR_DIR="$STACK_RUN/acr"
ACR_REGISTRY=regcredstack ACR_TOKEN=ci-pull ACR_SCOPE_MAP=regcred-busybox-pull ACR_RG=regcred-stack
ACR_SUBSCRIPTION=$(cat /proc/sys/kernel/random/uuid)
mkdir -p "$ACR_DIR" "$STACK_RUN/logs"

# Its certificate: the login server names and the stack address (containerd connects to the address).
if [[ ! -f $PKI/acr.crt ]]; then
  printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth" "subjectAltName=DNS:*.azurecr.io,IP:$STACK_IP,DNS:localhost,IP:127.0.0.1" >"$ACR_DIR/acr.ext"
  openssl req -newkey rsa:2048 -nodes -keyout "$PKI/acr.key" -out "$ACR_DIR/acr.csr" -subj "/CN=regcred-stack-acr" 2>/dev/null
  openssl x509 -req -in "$ACR_DIR/acr.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -days 3650 \
    -extfile "$ACR_DIR/acr.ext" -out "$PKI/acr.crt" 2>/dev/null
  rm -f "$ACR_DIR/acr.csr" "$ACR_DIR/acr.ext"
fi

cat >"$ACR_DIR/registry.yml" <<YML
version: 0.1
log: { level: warn, accesslog: { disabled: true } }
storage: { filesystem: { rootdirectory: $ACR_DIR/data }, delete: { enabled: true } }
http: { addr: 127.0.0.1:$PORT_ACR_BACKEND, secret: $(rand 32) }
YML
start acr-registry "$STACK_BIN/docker-registry" serve "$ACR_DIR/registry.yml"

python3 - "$ACR_DIR/config.json" "$STACK_RUN/azure/config.json" <<PY
import json, sys
apps = {a["name"]: a["objectId"] for a in json.load(open(sys.argv[2]))["apps"]}
cr = "Microsoft.ContainerRegistry/registries/"
reg = "/subscriptions/$ACR_SUBSCRIPTION/resourceGroups/$ACR_RG/providers/Microsoft.ContainerRegistry/registries/$ACR_REGISTRY"
json.dump({
  "tenantId": "$AZ_TENANT", "subscriptionId": "$ACR_SUBSCRIPTION", "resourceGroup": "$ACR_RG", "location": "westeurope",
  "jwksUrl": "https://login.microsoftonline.com/$AZ_TENANT/discovery/v2.0/keys", "jwksCa": "$PKI/ca.crt",
  "registries": [{"name": "$ACR_REGISTRY",
                  "scopeMaps": [{"name": "$ACR_SCOPE_MAP", "actions": ["repositories/regcred/busybox/content/read"]}],
                  "tokens": [{"name": "$ACR_TOKEN", "scopeMap": "$ACR_SCOPE_MAP"}]}],
  # What an issuer needs and nothing else (docs/issuers/acr.md): read the token, regenerate a slot, remove one.
  "customRoles": [{"id": "6a0c5e2b-3f0e-4a51-9c4e-0d7f2b3c9a11", "name": "regcred-rotator ACR token rotator",
                   "actions": [cr + a for a in ["tokens/read", "generateCredentials/action", "tokens/write",
                                                "tokens/operationStatuses/read", "operationStatuses/read"]]}],
  "roleAssignments": [
    {"principalId": apps["writer"], "scope": reg, "role": "regcred-rotator ACR token rotator"},
    {"principalId": apps["reader"], "scope": reg, "role": "Container Registry Contributor and Data Access Configuration Administrator"}],
  "backend": "127.0.0.1:$PORT_ACR_BACKEND",
  "listen": {"arm": "$STACK_IP:$PORT_ACR_ARM", "registry": "$STACK_IP:$PORT_ACR_REGISTRY", "admin": "127.0.0.1:$PORT_ACR_ADMIN"},
  "tls": {"cert": "$PKI/acr.crt", "key": "$PKI/acr.key"},
}, open(sys.argv[1], "w"), indent=1)
PY
# The double reaches the Entra double's keys by its real name, as every other test process does.
start acr "$STACK_NODE" --import "$HERE/azure/resolve.ts" "$HERE/acr/acr.ts" "$ACR_DIR/config.json"
wait_for acr-registry 20 curl -fsS "http://127.0.0.1:$PORT_ACR_BACKEND/v2/"
bash "$HERE/node/images.sh" push-plain busybox "127.0.0.1:$PORT_ACR_BACKEND/regcred/busybox:1"
wait_for acr 20 curl -fsS "http://127.0.0.1:$PORT_ACR_ADMIN/healthz"

# The node pulls <registry>.azurecr.io/... from the stack address (containerd reads certs.d on every pull).
node_trusts "$ACR_REGISTRY.azurecr.io" "https://$ACR_REGISTRY.azurecr.io" "https://$STACK_IP:$PORT_ACR_REGISTRY"

cat >>"$ACR_ENV" <<ENV
export REGCRED_STACK_ACR_ARM='https://$STACK_IP:$PORT_ACR_ARM'
export REGCRED_STACK_ACR_AUDIENCE='https://management.azure.com'
export REGCRED_STACK_ACR_SUBSCRIPTION='$ACR_SUBSCRIPTION'
export REGCRED_STACK_ACR_RESOURCE_GROUP='$ACR_RG'
export REGCRED_STACK_ACR_REGISTRY='$ACR_REGISTRY'
export REGCRED_STACK_ACR_LOGIN_SERVER='$ACR_REGISTRY.azurecr.io'
export REGCRED_STACK_ACR_TOKEN='$ACR_TOKEN'
export REGCRED_STACK_ACR_SCOPE_MAP='$ACR_SCOPE_MAP'
export REGCRED_STACK_ACR_IMAGE='$ACR_REGISTRY.azurecr.io/regcred/busybox:1'
export REGCRED_STACK_ACR_ROTATOR='$AZ_WRITER'
export REGCRED_STACK_ACR_ROTATOR_SECRET='$AZ_WRITER_SECRET'
export REGCRED_STACK_ACR_CONTRIBUTOR='$AZ_READER'
export REGCRED_STACK_ACR_CONTRIBUTOR_SECRET='$AZ_READER_SECRET'
export REGCRED_STACK_ACR_NOROLE='$AZ_NOROLE'
export REGCRED_STACK_ACR_NOROLE_SECRET='$AZ_NOROLE_SECRET'
export REGCRED_STACK_ACR_ADMIN='http://127.0.0.1:$PORT_ACR_ADMIN/_admin'
export REGCRED_STACK_ACR_BACKEND='http://127.0.0.1:$PORT_ACR_BACKEND'
ENV
