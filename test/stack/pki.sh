#!/usr/bin/env bash
# Creates the stack's certificates once per `stack:up`: a CA, serving certs, client certs for each
# component's identity, the service-account key pair and the registry token-signing cert. Everything lands
# in $STACK_RUN/pki.
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/lib.sh"
mkdir -p "$PKI" && cd "$PKI"
[[ -f ca.crt && -f kubelet.crt && -f azure.crt && -f token-signing.crt ]] && exit 0

ossl() { openssl "$@" 2>/dev/null; }
ossl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj "/CN=regcred-stack-ca" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"

sign() { # sign NAME SUBJECT EXT
  ossl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2"
  printf '%s\n' "$3" > "$1.ext"
  ossl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" -days 3650 -extfile "$1.ext"
  rm -f "$1.csr" "$1.ext"
}
server() { # server NAME SUBJECT SANS
  sign "$1" "$2" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=$3"
}
client() { # client NAME SUBJECT
  sign "$1" "$2" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
}
SANS="DNS:localhost,IP:127.0.0.1,IP:$STACK_IP,IP:10.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
server apiserver "/CN=kube-apiserver" "$SANS"
server serving "/CN=regcred-stack" "$SANS"
server kubelet "/CN=$NODE_NAME" "DNS:$NODE_NAME,IP:$STACK_IP"
# The Azure double answers as login.microsoftonline.com and <vault>.vault.azure.net (resolved to 127.0.0.1 only
# inside the test processes), so its certificate carries those names.
server azure "/CN=regcred-stack-azure" "DNS:login.microsoftonline.com,DNS:*.vault.azure.net,DNS:localhost,IP:127.0.0.1"
client admin "/O=system:masters/CN=stack-admin"
client controller-manager "/CN=system:kube-controller-manager"
client scheduler "/CN=system:kube-scheduler"
client proxy "/CN=system:kube-proxy"
client node "/O=system:nodes/CN=system:node:$NODE_NAME"
sign token-signing "/CN=regcred-stack-token-signer" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature"
ossl genrsa -out sa.key 2048
ossl rsa -in sa.key -pubout -out sa.pub
cp ca.crt ca-bundle.crt
