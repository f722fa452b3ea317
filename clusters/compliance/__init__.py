"""The compliance rule catalogue (pure: facts in, findings out; no I/O, no Django).

Each rule has a stable code, a severity, a one-line title, why (its source) and the
remediation; check functions return FindingData with per-node detail lines and the
evidence they were read from.
"""

from clusters.compliance import (
    change_rules,
    drbd_rules,
    drift_rules,
    file_rules,
    initiator_rules,
    node_rules,
    ownership_rules,
    scst_rules,
    stack_rules,
)
from clusters.compliance.catalogue import (
    CATALOGUE,
    CRITICAL,
    INFO,
    WARNING,
    Detail,
    FindingData,
    Rule,
)
from clusters.facts import ClusterFacts

RULE_MODULES = (
    node_rules,
    scst_rules,
    drbd_rules,
    initiator_rules,
    drift_rules,
    file_rules,
    ownership_rules,
    stack_rules,
    change_rules,
)


def evaluate(facts: ClusterFacts) -> list[FindingData]:
    """Every rule over the cluster's facts; one finding per (code, object), details merged."""
    merged: dict[tuple[str, str], FindingData] = {}
    for rule in CATALOGUE.values():
        for item in rule.check(facts):
            key = (item.code, item.object_ref)
            if key in merged:
                merged[key].details += item.details
            else:
                merged[key] = item
    return list(merged.values())


__all__ = [
    "CATALOGUE",
    "CRITICAL",
    "INFO",
    "RULE_MODULES",
    "WARNING",
    "Detail",
    "FindingData",
    "Rule",
    "evaluate",
]
