"""Overview, cluster and compliance pages at 5, 50 and 500 clusters x 2 nodes x 50 LUNs.

Run from the repository root (PostgreSQL must be running):

    .venv/bin/python -m benchmarks.bench_pages [--sizes 5,50,500] [--luns 50]

It creates a throwaway PostgreSQL database (--database-url; dropped and re-created), a
one-cluster lab whose nodes export LUNS DRBD-backed LUNs (served from a child process),
points the inventory at it, adopts its running config and collects it (real snapshots,
real findings: one node runs a device with nv_cache 1, the other a write-back device),
then copies that cluster (inventory, each node's latest two snapshots, open findings;
tests/fleet.py) until the fleet has each size in turn. Each page is requested by a
logged-in superuser through Django's test client (server side only: middleware, views,
queries, templates; no network): the median of --runs requests after one warm-up,
the number of SQL queries and the response size. Only the table goes to stdout.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_scale_out import DEFAULT_DB, configure, log, recreate_database


def measure(client, url: str, runs: int) -> tuple[float, int, int]:
    """Median seconds, SQL queries and bytes of GET URL."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url)  # warm-up: sessions, template and catalogue caches
    seconds, counts, size = [], set(), 0
    for _ in range(runs):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url)
            seconds.append(time.perf_counter() - started)
        assert response.status_code == 200, (url, response.status_code)
        counts.add(len(captured))
        size = len(response.content)
    assert len(counts) == 1, counts
    return statistics.median(seconds), counts.pop(), size


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", default="5,50,500", help="fleet sizes (clusters), ascending")
    p.add_argument("--luns", type=int, default=50, help="LUNs (DRBD resources) per cluster")
    p.add_argument("--runs", type=int, default=5, help="requests per page (median)")
    p.add_argument(
        "--database-url", default=DEFAULT_DB.replace("scale", "pages"), help="re-created!"
    )
    args = p.parse_args()
    args.redis_url = ""
    sizes = [int(n) for n in args.sizes.split(",")]

    with tempfile.TemporaryDirectory(prefix="bench-pages-") as tmp:
        work = Path(tmp)
        configure(args, work / "var")
        os.environ.pop("REDIS_URL", None)
        os.environ["ALLOWED_HOSTS"] = "testserver"
        os.environ["PORTAL_HTTPS"] = "0"
        recreate_database(args.database_url)
        import django

        django.setup()
        from django.contrib.auth import get_user_model
        from django.core.management import call_command
        from django.test import Client
        from django.urls import reverse

        from benchmarks.lab_process import serve_lab
        from clusters.models import Cluster, Finding, LunMapping
        from clusters.services import labsync
        from lab import api
        from tests.fleet import clone_cluster, lab_resources

        call_command("migrate", verbosity=0)
        log(f"a one-cluster lab with {args.luns} LUNs per node ...")
        with lab_resources(args.luns):
            api.create_lab(work / "lab", clusters=1)
        name = api.load_manifest(work / "lab")["clusters"][0]["name"]
        api.set_device_attr(work / "lab", f"{name}-a", "r0", "nv_cache", "1")
        api.set_device_attr(work / "lab", f"{name}-b", "r1", "write_through", "0")
        server, manifest = serve_lab(work / "lab")
        try:
            log(labsync.inventory_sync(manifest))
        finally:
            server.terminate()
            server.wait(10)
        template = Cluster.objects.get(name=name)
        user = get_user_model().objects.create_superuser("bench", password="unused-" * 4)
        client = Client()
        client.force_login(user)
        pages = {
            "overview `/clusters/`": reverse("cluster-list"),
            "cluster `/clusters/c001/`": reverse("cluster-detail", args=[name]),
            "compliance `/compliance/`": reverse("compliance"),
        }
        rows = []
        have = 1
        for size in sizes:
            log(f"copying the cluster up to {size} clusters ...")
            while have < size:
                clone_cluster(template, f"{name}-{have:03d}", 2000 + 2 * have)
                have += 1
            findings = Finding.objects.filter(resolved_at=None).count()
            luns = LunMapping.objects.filter(target__cluster=template).count()
            for page, url in pages.items():
                seconds, queries, size_bytes = measure(client, url, args.runs)
                rows.append((page, size, findings, seconds, queries, size_bytes))
                log(f"{size} clusters, {page}: {seconds * 1000:.0f} ms, {queries} queries")

    print(
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"Django {django.get_version()}, PostgreSQL; {args.luns} DRBD-backed devices per "
        f"cluster, {luns} LUN mappings (both nodes' targets); median of {args.runs} requests; "
        "load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
    )
    print()
    print("| page | clusters | open findings | server ms | SQL queries | KiB |")
    print("|---|--:|--:|--:|--:|--:|")
    for page, size, findings, seconds, queries, size_bytes in sorted(rows, key=lambda r: r[0]):
        print(
            f"| {page} | {size} | {findings} | {seconds * 1000:.0f} | {queries} | "
            f"{size_bytes / 1024:.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
