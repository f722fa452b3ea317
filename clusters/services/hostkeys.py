"""Host key pinning decisions: only an admin turns an offered key into a pinned one."""

from django.db import transaction

from clusters import access, audit
from clusters.models import Node, Role


class HostKeyError(Exception):
    pass


@transaction.atomic
def host_key_approve(node: Node, user, reason: str) -> None:
    """Pin the key the node offered; the node is used from the next collection on.

    The reason (how the admin verified the fingerprint) is required and audited.
    """
    access.require_role(user, node.cluster, Role.ADMIN)
    if not reason.strip():
        raise HostKeyError(f"Say how you verified the host key of {node.name} before pinning it.")
    node = Node.objects.select_for_update().get(pk=node.pk)
    if not node.pending_host_key:
        raise HostKeyError(f"{node.name} has no host key waiting for approval.")
    before = {"host_key": node.host_key, "pending_host_key": node.pending_host_key}
    node.host_key, node.pending_host_key = node.pending_host_key, ""
    node.save(update_fields=["host_key", "pending_host_key"])
    after = {"host_key": node.host_key, "pending_host_key": ""}
    audit.record(
        user, audit.Action.APPROVE_HOST_KEY, node, before=before, after=after, reason=reason.strip()
    )
