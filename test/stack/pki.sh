#!/usr/bin/env bash
# Creates the stack's certificates once per `stack:up`: a CA, serving certs, client certs, the
# service-account key pair and the registry token-signing cert. Everything lands in $STACK_RUN/pki.
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/lib.sh"
mkdir -p "$PKI" && cd "$PKI"
[[ -f ca.crt && -f apiserver.crt && -f token-signing.crt ]] && exit 0

ossl() { openssl "$@" 2>/dev/null; }
ossl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj "/CN=regcred-stack-ca" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"

sign() { # sign NAME SUBJECT EXT
  ossl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2"
  printf '%s\n' "$3" > "$1.ext"
  ossl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" -days 3650 -extfile "$1.ext"
  rm -f "$1.csr" "$1.ext"
}
SERVER_EXT="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:10.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
CLIENT_EXT="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
sign apiserver "/CN=kube-apiserver" "$SERVER_EXT"
sign serving "/CN=regcred-stack" "$SERVER_EXT"
sign admin "/O=system:masters/CN=stack-admin" "$CLIENT_EXT"
sign controller-manager "/CN=system:kube-controller-manager" "$CLIENT_EXT"
sign token-signing "/CN=regcred-stack-token-signer" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature"
ossl genrsa -out sa.key 2048
ossl rsa -in sa.key -pubout -out sa.pub
cp ca.crt ca-bundle.crt
