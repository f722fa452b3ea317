"""Can we trust what we know about each node at all?"""

from clusters.compliance.catalogue import CRITICAL, WARNING, Detail, rule
from clusters.facts import ClusterFacts


@rule(
    "NODE_UNREACHABLE",
    WARNING,
    "Node could not be read: its state is unknown",
    "Stale or missing data is unknown, never healthy: nothing about this node can be judged.",
    "Check that the node is up, sshd answers on the configured port, and the portal's key is "
    "in the SSH user's authorized_keys; then collect again.",
)
def node_unreachable(facts: ClusterFacts):
    for node in facts.nodes:
        if not node.reachable or (node.error and not node.host_key_problem):
            yield node_unreachable.rule.finding(
                f"node:{node.name}", Detail(node.error or "no answer", node=node.name)
            )


@rule(
    "HOST_KEY_CHANGED",
    CRITICAL,
    "Node's SSH host key changed: all work on it is stopped",
    "A changed host key means the node was reinstalled or someone is impersonating it; the "
    "portal sends no credential or command until an admin verifies it.",
    "Verify the new fingerprint on the node's console (`ssh-keygen -lf "
    "/etc/ssh/ssh_host_ed25519_key.pub`), then approve it on the cluster page.",
)
def host_key_changed(facts: ClusterFacts):
    for node in facts.nodes:
        if node.host_key_problem == "changed":
            yield host_key_changed.rule.finding(
                f"node:{node.name}", Detail(node.error, node=node.name)
            )


@rule(
    "HOST_KEY_PENDING",
    WARNING,
    "Node's SSH host key awaits an admin's approval",
    "Host keys are pinned: an unknown key is never trusted automatically.",
    "Compare the fingerprint shown on the cluster page with the node's own "
    "(`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`) and approve it.",
)
def host_key_pending(facts: ClusterFacts):
    for node in facts.nodes:
        if node.host_key_problem == "unknown":
            yield host_key_pending.rule.finding(
                f"node:{node.name}", Detail(node.error, node=node.name)
            )


@rule(
    "DATA_STALE",
    WARNING,
    "Last collection is too old: the node's state is unknown",
    "Data older than three collection periods is treated as unknown, never as healthy.",
    "Check that the Celery worker and beat are running; collect now from the cluster page.",
)
def data_stale(facts: ClusterFacts):
    if facts.now is None:
        return
    for node in facts.nodes:
        if node.collected_at is not None and facts.now - node.collected_at > facts.stale_after:
            age = int((facts.now - node.collected_at).total_seconds())
            yield data_stale.rule.finding(
                f"node:{node.name}",
                Detail(f"last collected {age} s ago", node.collected_at.isoformat(), node.name),
            )


@rule(
    "COLLECTION_INCOMPLETE",
    WARNING,
    "Part of the node's state could not be read",
    "A fact that could not be read is unknown; rules that need it cannot vouch for safety.",
    "Read the detail: install or fix the named tool on the node (scstadmin, drbd-utils), "
    "then collect again.",
)
def collection_incomplete(facts: ClusterFacts):
    for node in facts.with_data():
        if node.problems:
            yield collection_incomplete.rule.finding(
                f"node:{node.name}", *(Detail(p, node=node.name) for p in node.problems)
            )
