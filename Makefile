# Two commands for a fresh machine:
#   make run    set up everything and run the portal with a demo lab (SQLite, no Redis)
#   make test   run the whole test suite (PostgreSQL, Redis, real SSH, chromium)
.PHONY: run test test-fast lint format setup bench

run:
	@bash scripts/run-demo.sh

test:
	@bash scripts/test.sh

# Quick local iteration: SQLite and the filesystem queue, no browser tests.
test-fast: setup
	.venv/bin/pytest -q -m "not browser" -x

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

format: setup
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

setup:
	@bash scripts/setup-venv.sh
