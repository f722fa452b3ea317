"""Settings for the test suite: fixed throwaway secrets, then the normal settings.

`make test` sets DATABASE_URL (PostgreSQL) and REDIS_URL; plain `pytest` without them
runs on SQLite with the filesystem queue for quick local iteration.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production")
os.environ.setdefault("PORTAL_SECRETS_KEY", "test-only-secrets-key-0123456789-not-for-production")
os.environ.setdefault("PORTAL_DEMO", "1")

from portal.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests

# Tasks queued by pages and the API run in the test's own process (and transaction);
# tests whose behaviour crosses the queue use the real worker (tests/conftest.py
# turns eager mode off for them).
CELERY_TASK_ALWAYS_EAGER = os.environ.get("CELERY_EAGER", "1") == "1"
CELERY_TASK_EAGER_PROPAGATES = False
