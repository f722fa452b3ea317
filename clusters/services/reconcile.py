"""Reconciling an apply that was interrupted while it wrote to nodes.

The interrupted change never reached the inventory, so there are two candidate states
for every node: *before* (the inventory as it is) and *after* (the inventory with the
interrupted change). This module says which one each node runs and which one its files
would load, from the latest collection; the operator then plans `finish` or `roll back`
(a Reconcile change), applied through the same guarded path as any change.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from clusters import compare
from clusters.compliance.drift_rules import scst_differences
from clusters.facts import DesiredNode, NodeFacts
from clusters.models import Job, NodeStep
from clusters.services import changes
from clusters.services.change_kinds import Reconcile
from clusters.services.facts import latest_snapshots, node_facts_for


class Side(enum.StrEnum):
    """Which side of an interrupted change a node runs, or its file would load."""

    BEFORE = "before"
    AFTER = "after"
    NEITHER = "neither"
    UNKNOWN = "unknown"


@dataclass
class NodeReconcile:
    node: str
    collected_at: object = None
    readable: bool = False
    error: str = ""
    runs: Side = Side.UNKNOWN
    runs_detail: list[str] = field(default_factory=list)
    file: Side = Side.UNKNOWN  # what /etc/scst.conf would load
    file_detail: list[str] = field(default_factory=list)
    steps: list[NodeStep] = field(default_factory=list)
    unknown_since: object = None
    stale: bool = False  # last read before the job stopped: says nothing about its outcome


def _differences(facts: NodeFacts, want: DesiredNode) -> list[str]:
    return [d.text for _, details in scst_differences(facts, want.scst_config) for d in details]


def _file_differences(facts: NodeFacts, want: DesiredNode) -> list[str] | None:
    if facts.scst_file_config is None:
        return None
    wanted = changes.with_copy_manager(want.scst_config, facts.scst_config)
    return compare.scst_config_differences(facts.scst_file_config, wanted)


def _verdict(before: list[str] | None, after: list[str] | None) -> tuple[Side, list[str]]:
    if before is None or after is None:
        return Side.UNKNOWN, []
    if not after:
        return Side.AFTER, []
    if not before:
        return Side.BEFORE, []
    return Side.NEITHER, [f"vs before: {t}" for t in before[:5]] + [
        f"vs after: {t}" for t in after[:5]
    ]


def reconcile_state(job: Job) -> list[NodeReconcile]:
    """Per node of JOB's cluster: what it runs and what its file loads, before or after."""
    cluster = job.acting_cluster()
    original = Reconcile(job.pk, "finish")
    before = changes.desired_cluster(cluster)
    after = changes.desired_after(cluster, original.original(cluster))
    steps = list(job.steps.order_by("pk"))
    rows = []
    nodes = {n.name: n for n in cluster.nodes.all()}
    for name, snaps in latest_snapshots(cluster).items():
        row = NodeReconcile(name, steps=[s for s in steps if s.node_name == name])
        row.unknown_since = nodes[name].outcome_unknown_since
        if snaps and job.finished_at and snaps[0].collected_at < job.finished_at:
            row.collected_at, row.stale = snaps[0].collected_at, True
        elif snaps:
            row.collected_at = snaps[0].collected_at
            facts = node_facts_for(snaps[0])
            row.readable, row.error = facts.has_data, facts.error or ""
            if facts.has_data and name in before and name in after:
                row.runs, row.runs_detail = _verdict(
                    _differences(facts, before[name]), _differences(facts, after[name])
                )
                row.file, row.file_detail = _verdict(
                    _file_differences(facts, before[name]), _file_differences(facts, after[name])
                )
        rows.append(row)
    return rows


def awaiting(job: Job) -> bool:
    return job.kind == Job.Kind.APPLY and job.needs_reconcile and job.reconciled_at is None


def reconcile_plan(job: Job, user, action: str, reason: str) -> Job:
    """A plan (queued) that finishes or rolls back JOB's change; the reason is required."""
    if not awaiting(job):
        raise changes.PlanRefused(f"Job {job.pk} does not await reconciling.")
    if action not in Reconcile.ACTIONS:
        raise changes.PlanRefused(f"Unknown action {action!r}.")
    if not reason.strip():
        raise changes.PlanRefused("Say why (the reason goes to the audit trail).")
    what = "Finish" if action == "finish" else "Roll back"
    description = f"{what} interrupted apply job {job.pk}: {reason.strip()}"
    return changes.plan_create(job.acting_cluster(), user, Reconcile(job.pk, action), description)
