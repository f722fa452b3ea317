"""Settings for the test suite: fixed throwaway secrets, then the normal settings.

`make test` sets DATABASE_URL (PostgreSQL) and REDIS_URL; plain `pytest` without them
runs on SQLite with the filesystem queue for quick local iteration.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production")
os.environ.setdefault("PORTAL_SECRETS_KEY", "test-only-secrets-key-0123456789-not-for-production")
os.environ.setdefault("PORTAL_DEMO", "1")

# Under pytest-xdist each test process gets its own Redis database (PostgreSQL test
# databases get their _gwN suffix from pytest-django): their Celery workers must never
# take each other's jobs. Worker processes inherit the split, never split again.
_xdist = os.environ.get("PYTEST_XDIST_WORKER", "")
if _xdist.startswith("gw") and os.environ.get("REDIS_URL") and "TEST_REDIS_SPLIT" not in os.environ:
    _base, _, _db = os.environ["REDIS_URL"].rpartition("/")
    if _db.isdigit():
        os.environ["REDIS_URL"] = f"{_base}/{(int(_db) - 1 - int(_xdist[2:])) % 16}"
    os.environ["TEST_REDIS_SPLIT"] = "1"

from portal.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests

# Tasks queued by pages and the API run in the test's own process (and transaction);
# tests whose behaviour crosses the queue use the real worker (tests/conftest.py
# turns eager mode off for them).
CELERY_TASK_ALWAYS_EAGER = os.environ.get("CELERY_EAGER", "1") == "1"
CELERY_TASK_EAGER_PROPAGATES = False
