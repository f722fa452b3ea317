#!/usr/bin/env bash
# The whole test suite against real PostgreSQL, Redis, SSH and chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-packages.sh
bash scripts/setup-venv.sh
bash scripts/services.sh

export DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/portal}
export REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}

echo "==> ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .

echo "==> mypy"
# Files, plugins and strictness in pyproject.toml [tool.mypy]; imports the settings with
# SQLite and no Redis (portal.settings_test), so it needs neither service.
.venv/bin/mypy

echo "==> pytest"
# Two test processes (pytest-xdist): the suite waits on SSH, workers and browsers more
# than it computes. Each process has its own PostgreSQL and Redis database.
.venv/bin/pytest -q -n "${PYTEST_WORKERS:-2}" "$@"
