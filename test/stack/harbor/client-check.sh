#!/usr/bin/env bash
# Runs client-check.py with Harbor's swagger-generated Python client (PyPI harbor-api-client) against the
# running stack's Harbor double, installing the client into the stack cache first when it is missing.
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$HERE/lib.sh"
[[ -f $STACK_RUN/env ]] && source "$STACK_RUN/env"
bash "$HERE/build.sh" harbor_client >&2 || die "harbor-api-client $HARBOR_CLIENT_VERSION could not be installed (output above)"
exec "$STACK_CACHE/venv/harbor-api-client-$HARBOR_CLIENT_VERSION/bin/python" "$HERE/harbor/client-check.py"
