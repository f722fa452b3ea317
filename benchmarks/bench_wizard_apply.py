"""Apply of the add-LUN wizard's change on a 2-node lab cluster: apply start to verified.

Run from the repository root:

    .venv/bin/python -m benchmarks.bench_wizard_apply [--runs 7]

In one run it
  1. points Django at a throwaway SQLite database and var dir in a temp dir, migrates;
  2. creates a 1-cluster (2-node) lab, frees its DRBD resource r1 (no LUN exports it),
     and serves the lab from a child process (`python -m lab serve`), so the lab and the
     measured client never share an event loop or the GIL;
  3. adopts the lab cluster (inventory_sync: collect, import, managed);
  4. RUNS times: plans what the wizard plans ({"kind": "add_lun", ...} on r1, both
     nodes' default LUN sets, cluster_mode 1) and times `apply_run` — lock, stage and
     validate on both nodes, apply node by node, verify the live state, commit the
     inventory, record the revision, collect again; then plans and applies the removal
     of that LUN (also timed) so that the next run starts from the same state.

Besides apply_run's wall time it reports the span from the first `stage` event to the
last `verify` event of the job (the push itself). Only the table goes to stdout.
Target: the add-LUN apply (stage → verified) under 3 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 3.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def django_setup(tmp: Path) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings_test"  # throwaway secrets
    os.environ["PORTAL_VAR_DIR"] = str(tmp / "var")
    os.environ["DATABASE_URL"] = f"sqlite:///{tmp / 'bench.sqlite3'}"
    os.environ.pop("REDIS_URL", None)  # the cluster lock uses var/locks
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def start_lab(lab_dir: Path) -> tuple[subprocess.Popen, dict]:
    """A 2-node lab whose r1 exports no LUN, served from a child process."""
    from benchmarks.lab_process import serve_lab
    from lab import api

    api.create_lab(lab_dir, clusters=1)
    name = api.load_manifest(lab_dir)["clusters"][0]["name"]
    for suffix in "ab":
        node = api.node(lab_dir, f"{name}-{suffix}")
        with node.session():
            node.state.scst.devices.pop("r1")
            for target in node.state.scst.drivers["iscsi"].values():
                target.luns = {k: v for k, v in target.luns.items() if v.device != "r1"}
            node.dirty_node = True
    return serve_lab(lab_dir)


def push_span(job) -> float:
    """Seconds from the job's first stage event to its last verify event."""
    events = list(job.events.order_by("at", "pk").values_list("step", "at"))
    first = next(at for step, at in events if step == "stage")
    last = [at for step, at in events if step == "verify"][-1]
    return (last - first).total_seconds()


def timed_apply(cluster, user, change: dict, description: str) -> tuple[float, float, float]:
    """(plan seconds, apply_run seconds, stage→verify seconds) of one change."""
    from clusters.models import Job
    from clusters.services import changes

    started = time.perf_counter()
    plan = changes.plan_now(cluster, user, change, description)
    planned = time.perf_counter() - started
    if plan.state != Job.State.SUCCEEDED:
        raise SystemExit(f"plan refused: {plan.summary}")
    job = changes.apply_create(plan, user, "benchmark")
    started = time.perf_counter()
    changes.apply_run(job)
    applied = time.perf_counter() - started
    job.refresh_from_db()
    if job.state != Job.State.SUCCEEDED:
        raise SystemExit(f"apply failed: {job.summary}")
    return planned, applied, push_span(job)


def add_lun_change(cluster, name: str) -> dict:
    """What the wizard's review step plans (see clusters/views/wizard.py)."""
    from clusters.models import Target
    from clusters.services import inventory

    spec = inventory.LunSpec(
        device_name=name,
        resource="r1",
        uses_reservations=True,
        identity=inventory.identity_generate(cluster, name),
        lun=1,
        lun_sets=[(t.pk, None) for t in Target.objects.filter(cluster=cluster)],
    )
    return {"kind": "add_lun", "spec": spec.as_json()}


def row(label: str, values: list[float]) -> str:
    return (
        f"| {label} | {len(values)} | {statistics.median(values):.2f} | {min(values):.2f} "
        f"| {max(values):.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-wizard-") as tmp:
        django_setup(Path(tmp))
        from django.contrib.auth import get_user_model

        from clusters.models import Cluster, LunMapping
        from clusters.services.labsync import inventory_sync

        server, manifest = start_lab(Path(tmp) / "lab")
        try:
            log(inventory_sync(manifest))
            cluster = Cluster.objects.get(name=manifest["clusters"][0]["name"])
            user = get_user_model().objects.create_superuser("bench", password="x")
            results: dict[str, list[float]] = {k: [] for k in ("plan", "add", "push", "rm")}
            for run in range(args.runs):
                name = f"bench{run}"
                planned, applied, push = timed_apply(
                    cluster, user, add_lun_change(cluster, name), f"add {name}"
                )
                results["plan"].append(planned)
                results["add"].append(applied)
                results["push"].append(push)
                ids = list(
                    LunMapping.objects.filter(device__name=name).values_list("pk", flat=True)
                )
                change = {"kind": "remove_mappings", "mapping_ids": ids}
                results["rm"].append(timed_apply(cluster, user, change, f"remove {name}")[1])
                log(f"run {run + 1}/{args.runs}: add {applied:.2f} s (push {push:.2f} s)")
        finally:
            server.terminate()
            server.wait(10)
    print(f"2-node lab cluster, {args.runs} runs, {platform.python_version()} on {os.uname()[4]}")
    print()
    print("| Step | Runs | Median s | Min s | Max s |")
    print("|---|---|---|---|---|")
    print(row("plan_create (add LUN: collect if stale, diff, interlocks)", results["plan"]))
    print(row("apply_run, add LUN (apply start → verified, revision, collect)", results["add"]))
    print(row("push only: first stage event → last verify event", results["push"]))
    print(row("apply_run, remove the LUN again (-force)", results["rm"]))
    verdict = "met" if max(results["add"]) < TARGET_SECONDS else "NOT met"
    print()
    print(f"Target: add-LUN apply under {TARGET_SECONDS:.0f} s (max) — {verdict}.")


if __name__ == "__main__":
    main()
