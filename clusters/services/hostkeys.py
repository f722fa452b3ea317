"""Host key pinning decisions: only an admin turns an offered key into a pinned one.

Approving pins exactly the key whose fingerprint the admin was shown, and only while the
node still offers it: a key a node offered once (an impostor's, for a moment) and no
longer offers is never pinned. A node that authenticates with its pinned key again
drops the key that was waiting (host_key_confirmed).
"""

from asgiref.sync import async_to_sync
from django.db import transaction

from clusters import access, audit, ssh
from clusters.models import Node, NodeSnapshot, Role


class HostKeyError(Exception):
    pass


def offered_host_key(node: Node) -> str:
    """The host key the node offers right now (no login); NodeError if it cannot be read."""
    return async_to_sync(ssh.fetch_host_key)(node.address, node.ssh_port)


@transaction.atomic
def host_key_approve(node: Node, user, reason: str, fingerprint: str | None = None) -> None:
    """Pin the key the node offered, if it is the one shown (`fingerprint`) and the node
    still offers it; the node is used from the next collection on.

    The reason (how the admin verified the fingerprint) is required and audited.
    """
    access.require_role(user, node.cluster, Role.ADMIN)
    if not reason.strip():
        raise HostKeyError(f"Say how you verified the host key of {node.name} before pinning it.")
    node = Node.objects.select_for_update().get(pk=node.pk)
    if not node.pending_host_key:
        raise HostKeyError(f"{node.name} has no host key waiting for approval.")
    pending = ssh.fingerprint(node.pending_host_key)
    if fingerprint is not None and fingerprint != pending:
        raise HostKeyError(
            f"{node.name} now has another key waiting ({pending}) than the one you were "
            f"shown ({fingerprint}); check the new fingerprint before approving."
        )
    try:
        offered = offered_host_key(node)
    except ssh.NodeError as exc:
        raise HostKeyError(
            f"{node.name} cannot be reached to confirm it still offers {pending}: {exc}. "
            "Nothing was pinned; try again when the node answers."
        ) from exc
    if ssh.fingerprint(offered) != pending:
        raise HostKeyError(
            f"{node.name} no longer offers {pending} (it now offers {ssh.fingerprint(offered)})."
            " Nothing was pinned; collect again and verify the key it offers now."
        )
    before = {"host_key": node.host_key, "pending_host_key": node.pending_host_key}
    node.host_key, node.pending_host_key = node.pending_host_key, ""
    node.save(update_fields=["host_key", "pending_host_key"])
    after = {"host_key": node.host_key, "pending_host_key": ""}
    audit.record(
        user, audit.Action.APPROVE_HOST_KEY, node, before=before, after=after, reason=reason.strip()
    )


def host_key_confirmed(snapshot: NodeSnapshot) -> None:
    """A collection that logged in with the pinned key: a key still waiting is stale."""
    if not snapshot.reachable or (snapshot.facts or {}).get("host_key_problem"):
        return
    Node.objects.filter(pk=snapshot.node_id).exclude(pending_host_key="").update(
        pending_host_key=""
    )
