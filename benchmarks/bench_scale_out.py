"""Beat tick → every cluster's findings updated, with 1, 2 and 4 Celery worker processes.

Run from the repository root (PostgreSQL and Redis must be running):

    .venv/bin/python -m benchmarks.bench_scale_out [--clusters 250] [--workers 1,2,4]

In one run it
  1. creates a throwaway PostgreSQL database (--database-url; dropped and re-created)
     and migrates it; empties the Redis database (--redis-url) it will use as broker;
  2. creates a lab of CLUSTERS x 2 nodes in a temp dir and serves it from a child
     process (`python -m lab serve`), then points the inventory at it
     (labsync: clusters, nodes, credential, pinned host keys);
  3. warms up: one tick with the largest worker count, then adopts every cluster's
     running config as its inventory (managed mode), so that evaluation compares the
     inventory with the live state as in production;
  4. with --latency S, makes every lab node wait S seconds before each answer (nodes
     behind a slow network: the work is then mostly waiting, as with real nodes);
  5. for each worker count N: starts N `celery worker -Q collect,changes --concurrency 1`
     processes (as N hosts would), sends `clusters.collect_all` through the broker
     exactly as beat does, and measures from that send to the moment the last cluster's
     collection job ended (each job: collect both nodes over SSH, store snapshots,
     parse, evaluate every rule, store findings). The workers are stopped after each.

"worker CPU" is the CPU the worker processes used from their start to their stop (start-up
included, about 1-2 s each); "lab CPU" the lab server's during the ticks.
COLLECT_INTERVAL_SECONDS is set to 3600 for the run so that no task expires while a
single worker is still busy; the table says whether the round would fit in the default
60 s interval. Only the table goes to stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/portal_bench_scale"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def recreate_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def configure(args: argparse.Namespace, var_dir: Path) -> dict:
    """Environment for this process and the workers; Django is set up afterwards."""
    env = {
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "PORTAL_VAR_DIR": str(var_dir),
        "SECRET_KEY": secrets.token_urlsafe(48),
        "PORTAL_SECRETS_KEY": secrets.token_urlsafe(48),
        "PORTAL_DEMO": "1",
        "COLLECT_INTERVAL_SECONDS": "3600",
        "DB_CONN_MAX_AGE": "60",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    return {**os.environ, **env}


def start_workers(count: int, env: dict, logs: Path) -> list[subprocess.Popen]:
    workers = []
    for i in range(count):
        log_path = logs / f"worker{count}-{i}.log"
        workers.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "portal",
                    "worker",
                    "-Q",
                    "collect,changes",
                    "--concurrency",
                    "1",
                    "-n",
                    f"bench{count}-{i}@%h",
                    "--without-gossip",
                    "--without-mingle",
                    "--loglevel",
                    "INFO",
                ],
                cwd=REPO,
                env=env,
                stdout=log_path.open("w"),
                stderr=subprocess.STDOUT,
            )
        )
    deadline = time.monotonic() + 120
    for i, worker in enumerate(workers):
        log_path = logs / f"worker{count}-{i}.log"
        while "ready." not in log_path.read_text():
            if worker.poll() is not None or time.monotonic() > deadline:
                stop_workers(workers)
                raise SystemExit(f"worker did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.1)
    return workers


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        worker.terminate()
    for worker in workers:
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()


def one_tick(clusters: int, timeout: float) -> dict:
    """Send beat's task; wait until every cluster's collection job of this tick ended."""
    from django.utils import timezone

    from clusters import tasks
    from clusters.models import Job

    sent_at = timezone.now()
    started = time.perf_counter()
    tasks.collect_all.apply_async()  # what beat sends, routed to the collect queue
    deadline = started + timeout
    tick = Job.objects.filter(kind=Job.Kind.COLLECT, created_at__gte=sent_at)
    while time.perf_counter() < deadline:
        finished = tick.filter(finished_at__isnull=False).count()
        if finished >= clusters:
            break
        time.sleep(0.1)
    else:
        raise SystemExit(f"only {finished} of {clusters} clusters collected in {timeout} s")
    rows = list(tick.values("state", "created_at", "started_at", "finished_at"))
    last = max(r["finished_at"] for r in rows)
    per_job = [(r["finished_at"] - r["started_at"]).total_seconds() for r in rows]
    return {
        "seconds": (last - sent_at).total_seconds(),
        "fan_out": (max(r["created_at"] for r in rows) - sent_at).total_seconds(),
        "succeeded": sum(1 for r in rows if r["state"] == Job.State.SUCCEEDED),
        "jobs": len(rows),
        "job_median": statistics.median(per_job),
        "job_max": max(per_job),
    }


def adopt_all() -> None:
    from clusters.models import Cluster
    from clusters.services import adoption
    from clusters.services.facts import latest_snapshots, node_facts_for

    for cluster in Cluster.objects.all():
        facts = [node_facts_for(s[0]) for s in latest_snapshots(cluster).values() if s]
        adoption.inventory_import(cluster, facts)
        cluster.mode = Cluster.Mode.MANAGED
        cluster.save(update_fields=["mode"])


def children_cpu() -> float:
    """CPU of this process's reaped children (the workers, with their pool processes)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--clusters", type=int, default=250, help="lab clusters (2 nodes each)")
    p.add_argument("--workers", default="1,2,4", help="worker process counts to compare")
    p.add_argument("--rounds", type=int, default=1, help="ticks per worker count (median)")
    p.add_argument("--database-url", default=DEFAULT_DB, help="dropped and re-created!")
    p.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"))
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per tick at most")
    p.add_argument(
        "--latency",
        type=float,
        default=0.0,
        help="seconds every lab node waits before answering each command in the measured "
        "ticks (the lab's latency fault: nodes on a slow network)",
    )
    args = p.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    load_before = os.getloadavg()

    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        work = Path(tmp)
        env = configure(args, work / "var")
        log(f"database {args.database_url} (re-created), broker {args.redis_url} (emptied)")
        recreate_database(args.database_url)
        import django
        import redis

        django.setup()
        from django.core.management import call_command

        from benchmarks.bench_collect import start_lab
        from clusters.services import labsync
        from lab import api

        call_command("migrate", verbosity=0)
        redis.Redis.from_url(args.redis_url).flushdb()
        log(f"creating and serving a {args.clusters}-cluster lab ...")
        server, manifest = start_lab(work / "lab", args.clusters)
        results: dict[int, list[dict]] = {}
        lab_cpu: dict[int, float] = {}
        worker_cpu: dict[int, float] = {}
        try:
            labsync._sync_rows(manifest)
            log(f"warm-up tick with {max(counts)} workers, then adoption ...")
            workers = start_workers(max(counts), env, work)
            try:
                one_tick(args.clusters, args.timeout)
            finally:
                stop_workers(workers)
            adopt_all()
            if args.latency:
                for node in api.node_names(work / "lab"):
                    api.set_fault(work / "lab", node, latency=args.latency)
                time.sleep(2)  # the server applies faults on its next control poll
            for count in counts:
                worker_cpu0 = children_cpu()
                workers = start_workers(count, env, work)
                try:
                    cpu0 = process_cpu(server.pid)
                    results[count] = [one_tick(args.clusters, args.timeout)]
                    for _ in range(args.rounds - 1):
                        results[count].append(one_tick(args.clusters, args.timeout))
                    lab_cpu[count] = (process_cpu(server.pid) - cpu0) / args.rounds
                finally:
                    stop_workers(workers)
                worker_cpu[count] = (children_cpu() - worker_cpu0) / args.rounds
                log(f"{count} workers: {[round(r['seconds'], 2) for r in results[count]]} s")
        finally:
            server.terminate()
            server.wait(10)

    print(
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"{args.clusters} clusters x 2 nodes; lab in one process on the same machine"
        + (f"; every command delayed {args.latency} s by the lab" if args.latency else "")
    )
    print(
        "load average (1, 5, 15 min) before: {:.1f} {:.1f} {:.1f}, "
        "after: {:.1f} {:.1f} {:.1f}".format(*load_before, *os.getloadavg())
    )
    print()
    print(
        "| worker processes | clusters | succeeded | tick → all findings s | clusters/s "
        "| speed-up | fan-out s | job median s | job max s | worker CPU s | lab CPU s "
        "| fits 60 s |"
    )
    print("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|")
    base = None
    for count in counts:
        runs = sorted(results[count], key=lambda r: r["seconds"])
        r = runs[len(runs) // 2]
        base = base or r["seconds"]
        print(
            f"| {count} | {r['jobs']} | {r['succeeded']} | {r['seconds']:.2f} | "
            f"{r['jobs'] / r['seconds']:.1f} | {base / r['seconds']:.2f}x | {r['fan_out']:.2f} | "
            f"{r['job_median']:.2f} | {r['job_max']:.2f} | {worker_cpu[count]:.1f} | "
            f"{lab_cpu[count]:.1f} | "
            f"{'yes' if r['seconds'] < 60 else 'no'} |"
        )
    ok = all(r["succeeded"] == r["jobs"] == args.clusters for rs in results.values() for r in rs)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
