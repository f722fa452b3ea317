#!/usr/bin/env bash
# One command from a fresh clone to a running portal with a demo lab:
# venv + dependencies, secrets in var/, SQLite migrations, an admin with a printed
# password, the lab's emulated nodes, then web + worker + beat (honcho, Procfile.demo).
#
# Ports: the web listens on $PORT (default 8000; when 8000 is taken and PORT is unset,
# the next free port); the lab's nodes on free ports, or from $LAB_BASE_PORT when set.
# Whatever cannot start is named in one line on stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
step="setting up .venv (scripts/setup-venv.sh)"
trap 'echo "make run: stopped while ${step}; the lines above say why." >&2' ERR

bash scripts/setup-venv.sh

step="choosing the web port"
PORTAL_PORT=$(.venv/bin/python - "${PORT:-}" <<'EOF'
import socket
import sys

def free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True

wanted = sys.argv[1]
if wanted:
    if not wanted.isdigit() or not 0 < int(wanted) < 65536:
        sys.exit(f"make run: PORT={wanted} is not a port number")
    if not free(int(wanted)):
        sys.exit(f"make run: port {wanted} on 127.0.0.1 is in use (PORT={wanted}); choose another PORT")
    print(wanted)
else:
    port = next((p for p in range(8000, 8100) if free(p)), None)
    if port is None:
        sys.exit("make run: ports 8000-8099 on 127.0.0.1 are all in use; set PORT to a free one")
    if port != 8000:
        print(f"make run: port 8000 is in use; the portal uses {port}", file=sys.stderr)
    print(port)
EOF
) || { trap - ERR; exit 1; }  # the line above says why
# honcho overrides PORT per process, so the web port travels as PORTAL_PORT.
export PORTAL_PORT

step="creating the demo's secrets in var/"
export PORTAL_VAR_DIR=${PORTAL_VAR_DIR:-$PWD/var}
mkdir -p "$PORTAL_VAR_DIR"
for name in secret_key secrets_key; do
  [ -s "$PORTAL_VAR_DIR/$name" ] || .venv/bin/python -c "import secrets; print(secrets.token_urlsafe(48))" > "$PORTAL_VAR_DIR/$name"
  chmod 600 "$PORTAL_VAR_DIR/$name"
done
export SECRET_KEY_FILE=$PORTAL_VAR_DIR/secret_key
export PORTAL_SECRETS_KEY_FILE=$PORTAL_VAR_DIR/secrets_key
export PORTAL_DEMO=1

step="migrating the SQLite database"
.venv/bin/python manage.py migrate --noinput -v 0
step="collecting static files"
.venv/bin/python manage.py collectstatic --noinput -v 0
step="creating the demo admin"
.venv/bin/python manage.py demo_admin
step="starting the lab, web, worker and beat (honcho)"
exec .venv/bin/honcho -f Procfile.demo start
