#!/usr/bin/env bash
# One command from a fresh clone to a running portal with a demo lab:
# venv + dependencies, secrets in var/, SQLite migrations, an admin with a printed
# password, the lab's emulated nodes, then web + worker + beat (honcho, Procfile.demo).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh
mkdir -p var
for name in secret_key secrets_key; do
  [ -s "var/$name" ] || .venv/bin/python -c "import secrets; print(secrets.token_urlsafe(48))" > "var/$name"
  chmod 600 "var/$name"
done
export SECRET_KEY_FILE=$PWD/var/secret_key
export PORTAL_SECRETS_KEY_FILE=$PWD/var/secrets_key
export PORTAL_DEMO=1
# honcho overrides PORT per process, so the web port travels as PORTAL_PORT.
export PORTAL_PORT=${PORT:-8000}

.venv/bin/python manage.py migrate --noinput -v 0
.venv/bin/python manage.py collectstatic --noinput -v 0
.venv/bin/python manage.py demo_admin
exec .venv/bin/honcho -f Procfile.demo start
