"""Host key pinning decisions: only an admin turns an offered key into a pinned one."""

from django.db import transaction

from clusters import access
from clusters.models import Node, Role


class HostKeyError(Exception):
    pass


@transaction.atomic
def host_key_approve(node: Node, user) -> None:
    """Pin the key the node offered; the node is used from the next collection on."""
    access.require_role(user, node.cluster, Role.ADMIN)
    node = Node.objects.select_for_update().get(pk=node.pk)
    if not node.pending_host_key:
        raise HostKeyError(f"{node.name} has no host key waiting for approval.")
    node.host_key, node.pending_host_key = node.pending_host_key, ""
    node.save(update_fields=["host_key", "pending_host_key"])
