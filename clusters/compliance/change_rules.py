"""The portal's own changes: an apply that stopped while writing to nodes."""

from clusters.compliance.catalogue import CRITICAL, Detail, rule
from clusters.facts import ClusterFacts


@rule(
    "APPLY_INTERRUPTED",
    CRITICAL,
    "A change was interrupted while it wrote to the nodes",
    "The process applying a change died (worker killed, database or lock lost) after it "
    "began changing nodes: one node may run the new configuration and the other the old, "
    "which on a dual-primary pair means initiators see different LUNs per path.",
    "Open the job's reconcile page: compare each node's live state and files with the "
    "job's before and after, then plan 'finish the change' or 'roll back' (both are "
    "applied through the guarded path). Other changes wait until then.",
)
def apply_interrupted(facts: ClusterFacts):
    for job_id, summary, nodes in facts.interrupted_applies:
        on: list[str | None] = [*nodes] or [None]  # no node recorded: one detail without
        yield apply_interrupted.rule.finding(
            f"job:{job_id}",
            *[Detail(summary, f"/jobs/{job_id}/reconcile/", node) for node in on],
        )
