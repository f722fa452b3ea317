"""One writer per cluster: a lock with expiry, and who holds it (shown on the cluster page).

Redis (SET NX PX) when REDIS_URL is set; otherwise an exclusive-create file in var/locks/,
which serves the single-host demo where web and worker share var/ anyway.
"""

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings

LOCK_TTL_SECONDS = 15 * 60


@dataclass(frozen=True)
class LockHolder:
    job_id: int
    user: str
    since: float
    expires: float


def _key(cluster_id: int) -> str:
    return f"portal:cluster-lock:{cluster_id}"


def _redis():
    import redis

    return redis.Redis.from_url(settings.REDIS_URL)


def _lock_file(cluster_id: int) -> Path:
    directory = settings.VAR_DIR / "locks"
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f"cluster-{cluster_id}.json"


def acquire(cluster_id: int, job_id: int, user: str, ttl: int = LOCK_TTL_SECONDS) -> bool:
    """Take the cluster's lock for a job; False when another job holds it."""
    now = time.time()
    holder = json.dumps(asdict(LockHolder(job_id, user, now, now + ttl)))
    if settings.REDIS_URL:
        return bool(_redis().set(_key(cluster_id), holder, nx=True, px=ttl * 1000))
    path = _lock_file(cluster_id)
    current = holder_of(cluster_id)
    if current is None and path.exists():
        path.unlink(missing_ok=True)  # expired
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as handle:
        handle.write(holder)
    return True


def holder_of(cluster_id: int) -> LockHolder | None:
    """Who holds the cluster's lock now, or None."""
    if settings.REDIS_URL:
        raw = _redis().get(_key(cluster_id))
    else:
        path = _lock_file(cluster_id)
        raw = path.read_text() if path.exists() else None
    if not raw:
        return None
    holder = LockHolder(**json.loads(raw))
    return holder if holder.expires > time.time() else None


def release(cluster_id: int, job_id: int) -> None:
    """Release the lock if this job still holds it."""
    holder = holder_of(cluster_id)
    if holder is None or holder.job_id != job_id:
        return
    if settings.REDIS_URL:
        _redis().delete(_key(cluster_id))
    else:
        _lock_file(cluster_id).unlink(missing_ok=True)
