#!/usr/bin/env bash
# Adds or revokes a user of the stack's registries: Basic reads htpasswd (docker-registry re-reads it when
# its mtime changes), Bearer's token server reads users.json on every request. Revocation takes effect at
# the next login on both.
# Usage: registry-user.sh add USER <<<PASSWORD (the password on stdin, never in argv) | registry-user.sh revoke USER
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/lib.sh"
[[ -d $STACK_RUN/registry ]] || die "the stack is not running"
# One writer at a time (tests in two lanes add and revoke users concurrently: read-modify-write).
exec 9>"$STACK_RUN/registry/.users.lock"
flock 9
python3 -W ignore -c "$(cat <<'PY'
import crypt, json, os, sys
d, op, user = sys.argv[1], sys.argv[2], sys.argv[3]
ht = dict(l.split(":", 1) for l in open(f"{d}/htpasswd").read().splitlines() if ":" in l)
users = json.load(open(f"{d}/users.json"))
if op == "add":
    password = sys.stdin.readline().rstrip("\n")
    ht[user] = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 5))
    users[user] = password
elif op == "revoke":
    ht.pop(user, None)
    users.pop(user, None)
else:
    sys.exit(f"unknown operation {op}")
for name, text in (("htpasswd", "".join(f"{u}:{h}\n" for u, h in ht.items())), ("users.json", json.dumps(users))):
    with open(f"{d}/{name}.tmp", "w") as f:
        f.write(text)
    os.replace(f"{d}/{name}.tmp", f"{d}/{name}")
PY
)" "$STACK_RUN/registry" "$@"
