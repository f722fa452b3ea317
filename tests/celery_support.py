"""A real Celery worker process for tests whose behaviour crosses the queue."""

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def database_url(settings_dict: dict) -> str:
    user = settings_dict.get("USER") or "postgres"
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{settings_dict['NAME']}"


def start_worker(
    db_url: str,
    redis_url: str,
    log_path: Path,
    queues: str = "collect,changes",
    pool: str = "solo",
    extra_env: dict[str, str] | None = None,
) -> subprocess.Popen:
    """Start `celery worker` against the test database; return once it is ready.

    QUEUES keeps a test's own worker apart from the session's (they share Redis).
    """
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": "portal.settings_test",
        "DB_CONN_MAX_AGE": "0",
        "CELERY_EAGER": "0",
        **(extra_env or {}),
    }
    log = log_path.open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "--pool",
            pool,
            "--queues",
            queues,
            "--concurrency",
            "1",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"celery worker exited: {log_path.read_text()[-2000:]}")
        if "ready." in log_path.read_text():
            return process
        time.sleep(0.2)
    process.terminate()
    raise RuntimeError(f"celery worker did not become ready: {log_path.read_text()[-2000:]}")
