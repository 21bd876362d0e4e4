# Sourced by up.sh: the Harbor double (double.ts) in front of a real distribution registry that checks its
# tokens, an admin user with a random password, the private project team-a with the busybox test image
# pushed through the double, and containerd's trust for it. Also runnable alone against a running stack
# (`bash test/stack/harbor/up.sh`): it then restarts only its own two processes and rewrites its env lines.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  source "$HERE/lib.sh"
  [[ -f $STACK_RUN/env ]] || die "the stack is not running: start it with 'npm run stack:up'"
  for c in harbor harbor-registry; do
    if pid_alive "$c"; then kill "$(cat "$STACK_RUN/$c.pid")"; sleep 0.3; fi
  done
  HARBOR_ENV="$STACK_RUN/env.harbor.tmp"
  : >"$HARBOR_ENV"
else
  HARBOR_ENV="$STACK_RUN/env.tmp"
fi
HARBOR_DIR="$STACK_RUN/harbor"
HARBOR_HOST="$STACK_IP:$PORT_HARBOR"
rm -rf "$HARBOR_DIR" && mkdir -p "$HARBOR_DIR/registry" "$STACK_RUN/logs"

# The token-signing key and its self-signed certificate, as Harbor's `prepare` makes them: the registry
# trusts exactly this certificate (rootcertbundle) and finds the key by its libtrust key id.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$HARBOR_DIR/token.key" -out "$HARBOR_DIR/token.crt" \
  -days 3650 -subj "/CN=harbor-token-ca" 2>/dev/null
cat >"$HARBOR_DIR/registry.yml" <<YML
version: 0.1
log: { level: warn, accesslog: { disabled: true } }
storage: { filesystem: { rootdirectory: $HARBOR_DIR/registry }, delete: { enabled: true } }
http:
  addr: 127.0.0.1:$PORT_HARBOR_REGISTRY
  secret: $(rand 32)
auth:
  token:
    realm: https://$HARBOR_HOST/service/token
    service: harbor-registry
    issuer: harbor-token-issuer
    rootcertbundle: $HARBOR_DIR/token.crt
YML
start harbor-registry "$STACK_BIN/docker-registry" serve "$HARBOR_DIR/registry.yml"

HARBOR_ADMIN_PASSWORD="$(rand 12)Aa1"
(umask 077 && cat >"$HARBOR_DIR/config.json" <<JSON
{ "adminPassword": "$HARBOR_ADMIN_PASSWORD", "listen": "$HARBOR_HOST", "admin": "127.0.0.1:$PORT_HARBOR_ADMIN",
  "upstream": "127.0.0.1:$PORT_HARBOR_REGISTRY", "tlsCert": "$PKI/serving.crt", "tlsKey": "$PKI/serving.key",
  "tokenKey": "$HARBOR_DIR/token.key" }
JSON
)
harbor_t0=$(date +%s%N)
start harbor "$STACK_NODE" "$HERE/harbor/double.ts" "$HARBOR_DIR/config.json"
wait_for harbor 20 curl -fsS "http://127.0.0.1:$PORT_HARBOR_ADMIN/healthz"
log "harbor double listening after $((($(date +%s%N) - harbor_t0) / 1000000)) ms"
wait_for harbor-registry 20 curl -fsS -o /dev/null "http://127.0.0.1:$PORT_HARBOR_REGISTRY/"

# The admin's password goes to curl and skopeo on stdin / in a file, never on a command line.
harbor_api() { # harbor_api METHOD PATH [JSON]
  printf 'user = "admin:%s"\n' "$HARBOR_ADMIN_PASSWORD" |
    curl -fsS -K - --cacert "$PKI/ca.crt" -X "$1" -H 'content-type: application/json' ${3:+-d "$3"} \
      "https://$HARBOR_HOST/api/v2.0$2"
}
harbor_api POST /projects '{"project_name":"team-a","metadata":{"public":"false"}}'
mkdir -p "$HARBOR_DIR/certs" && cp "$PKI/ca.crt" "$HARBOR_DIR/certs/ca.crt"
printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$HARBOR_HOST" "$(printf 'admin:%s' "$HARBOR_ADMIN_PASSWORD" | base64 -w0)" \
  >"$HARBOR_DIR/admin-auth.json"
chmod 600 "$HARBOR_DIR/admin-auth.json"
skopeo copy --quiet --dest-cert-dir "$HARBOR_DIR/certs" --authfile "$HARBOR_DIR/admin-auth.json" \
  "oci:$STACK_CACHE/images/oci:busybox" "docker://$HARBOR_HOST/team-a/busybox:1"
rm -f "$HARBOR_DIR/admin-auth.json"

node_trusts "$HARBOR_HOST" "https://$HARBOR_HOST"

cat >>"$HARBOR_ENV" <<ENV
export REGCRED_STACK_HARBOR_URL='https://$HARBOR_HOST'
export REGCRED_STACK_HARBOR_ADMIN_USER='admin'
export REGCRED_STACK_HARBOR_ADMIN_PASSWORD='$HARBOR_ADMIN_PASSWORD'
export REGCRED_STACK_HARBOR_PROJECT='team-a'
export REGCRED_STACK_HARBOR_IMAGE='$HARBOR_HOST/team-a/busybox:1'
export REGCRED_STACK_HARBOR_ADMIN_API='http://127.0.0.1:$PORT_HARBOR_ADMIN/_admin'
export REGCRED_STACK_HARBOR_REGISTRY='http://127.0.0.1:$PORT_HARBOR_REGISTRY'
export REGCRED_STACK_HARBOR_TOKEN_CERT='$HARBOR_DIR/token.crt'
ENV
if [[ $HARBOR_ENV == "$STACK_RUN/env.harbor.tmp" ]]; then
  grep -v '^export REGCRED_STACK_HARBOR_' "$STACK_RUN/env" | cat - "$HARBOR_ENV" >"$STACK_RUN/env.new"
  mv "$STACK_RUN/env.new" "$STACK_RUN/env" && rm -f "$HARBOR_ENV"
  log "harbor up; env lines rewritten in $STACK_RUN/env"
fi
