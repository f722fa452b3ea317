#!/usr/bin/env bash
# Create .venv with the machine's Python 3.11 and install the pinned dependencies,
# again only when pyproject.toml or requirements.lock changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.installed-$(cat pyproject.toml requirements.lock | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  # python-ldap compiles against OpenLDAP's headers: install them first when missing.
  bash scripts/system-packages.sh build
  echo "==> installing Python dependencies (pinned in pyproject.toml)"
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
  # requirements.lock pins every transitive package too, for the same install everywhere.
  .venv/bin/python -m pip install -q -c requirements.lock -e '.[test]' 2>&1 | grep -v "is ignored" || true
  .venv/bin/python -c "import django, celery, asyncssh, playwright, ldap, django_auth_ldap, mypy_django_plugin" \
    || { echo "dependency installation failed" >&2; exit 1; }
  rm -f .venv/.installed-*
  touch "$stamp"
fi
