"""Plans and applies through a real Celery worker, and reading the lab nodes' end state."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from clusters import tasks
from clusters.models import Cluster, Job
from clusters.services import changes, jobs
from lab import api


def wait_for(job: Job, seconds: float = 90) -> Job:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.is_finished:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job.pk} still {job.state} after {seconds} s: {job.summary}")


def plan(cluster: Cluster, user, change, description: str = "test", queue: str = "celery") -> Job:
    """Plan through the worker: the plan job collects every node and judges there."""
    job = changes.plan_create(cluster, user, change, description)
    jobs.enqueue(job, tasks.plan_job, queue=queue)
    return wait_for(job)


def apply_job(plan_job: Job, user, queue: str = "celery") -> Job:
    """Queue the apply of a ready plan (not waited for)."""
    job = changes.apply_create(plan_job, user, reason="test change")
    jobs.enqueue(job, tasks.apply_job, queue=queue)
    return job


def apply(plan_job: Job, user, queue: str = "celery") -> Job:
    return wait_for(apply_job(plan_job, user, queue))


def scst_state(lab, node_name: str):
    node = api.node(lab.dir, node_name)
    with node.session():
        return node.state.scst


def node_file(lab, node_name: str, path: str) -> str:
    file = Path(lab.dir) / "nodes" / node_name / "root" / path.lstrip("/")
    return file.read_text() if file.exists() else ""


def node_fingerprint(lab, node_name: str) -> tuple[frozenset, str]:
    """What a node runs (devices with their LUNs) and the hash of its /etc/scst.conf."""
    scst = scst_state(lab, node_name)
    luns = frozenset(
        (target, number, lun.device)
        for driver in scst.drivers.values()
        for target, t in driver.items()
        for number, lun in t.luns.items()
    )
    devices = frozenset((name, tuple(sorted(d.attrs.items()))) for name, d in scst.devices.items())
    text = node_file(lab, node_name, "/etc/scst.conf")
    return devices | luns, hashlib.sha256(text.encode()).hexdigest()
