"""Plans and applies through a real Celery worker, and reading the lab nodes' end state."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

from django.db import connection

from clusters import tasks
from clusters.models import Cluster, Job, NodeStep
from clusters.services import changes, jobs
from lab import api
from tests.celery_support import database_url, start_worker


def wait_for(job: Job, seconds: float = 90) -> Job:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.is_finished:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job.pk} still {job.state} after {seconds} s: {job.summary}")


def plan(cluster: Cluster, user, change, description: str = "test", queue: str = "changes") -> Job:
    """Plan through the worker: the plan job collects every node and judges there."""
    job = changes.plan_create(cluster, user, change, description)
    jobs.enqueue(job, tasks.plan_job, queue=queue)
    return wait_for(job)


def apply_job(plan_job: Job, user, queue: str = "changes") -> Job:
    """Queue the apply of a ready plan (not waited for)."""
    job = changes.apply_create(plan_job, user, reason="test change")
    jobs.enqueue(job, tasks.apply_job, queue=queue)
    return job


def apply(plan_job: Job, user, queue: str = "changes") -> Job:
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


QUEUE = "faults"  # this module's workers only; the session's worker never takes these
CONFIG = r"scstadmin -noprompt -config"  # the apply's reload, not a rollback's -force one


class Workers:
    """Worker processes started by one test, all stopped at its end."""

    def __init__(self, tmp_path, redis_url: str) -> None:
        self.tmp_path, self.redis_url = tmp_path, redis_url
        self.started: list[subprocess.Popen] = []

    def start(self, pool: str = "solo", redis_url: str | None = None, **env: str):
        log = self.tmp_path / f"worker-{len(self.started)}.log"
        extra = {"NODE_COMMAND_TIMEOUT_SECONDS": "20", "JOB_HEARTBEAT_SECONDS": "1", **env}
        process = start_worker(
            database_url(connection.settings_dict),
            redis_url or self.redis_url,
            log,
            queues=QUEUE,
            pool=pool,
            extra_env=extra,
        )
        self.started.append(process)
        return process

    def stop(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()


def node_names(cluster: Cluster) -> tuple[str, str]:
    return f"{cluster.name}-a", f"{cluster.name}-b"


def states(lab, cluster: Cluster) -> dict:
    return {name: node_fingerprint(lab, name) for name in node_names(cluster)}


def runs(lab, node: str, device: str) -> bool:
    return device in str(node_fingerprint(lab, node)[0])


def wait_step(job: Job, node: str, text: str, seconds: float = 60) -> NodeStep:
    """The first step of JOB on NODE whose command contains TEXT, once it has started."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        step = job.steps.filter(node_name=node, command__contains=text).first()
        if step is not None:
            return step
        job.refresh_from_db()
        assert not job.is_finished, f"job ended before `{text}` on {node}: {job.summary}"
        time.sleep(0.05)
    raise AssertionError(f"no `{text}` step on {node} within {seconds} s")


def hang(lab, node: str, pattern: str, seconds: float) -> None:
    api.set_fault(lab.dir, node, hang_on=pattern, hang_seconds=seconds)
    lab.wait_for_faults()


def unhang(lab, node: str) -> None:
    api.set_fault(lab.dir, node, hang_on=None, hang_seconds=0.0)
    lab.wait_for_faults()


def sigkill(process) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait(10)
