"""Adoption, step 1: register an existing cluster and its nodes, monitored."""

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db import transaction

from clusters import access, audit
from clusters.models import Cluster, Node, SshCredential


@dataclass
class NodeInput:
    name: str
    address: str
    ssh_port: int = 22
    ssh_user: str = "root"
    drbd_address: str = ""


@transaction.atomic
def cluster_register(
    user, name: str, drbd_version: str, nodes: list[NodeInput], private_key: str
) -> Cluster:
    """A new monitored cluster with its nodes; host keys are fetched, never trusted."""
    if not access.is_global_admin(user):
        raise PermissionDenied("Adding a cluster needs the admin role on all clusters.")
    cluster = Cluster(name=name, drbd_version=drbd_version, mode=Cluster.Mode.MONITORED)
    cluster.full_clean()
    cluster.save()
    credential = SshCredential(name=f"{name}-key")
    credential.set_private_key(private_key)
    credential.full_clean(exclude=["private_key_encrypted"])
    credential.save()
    for index, node_input in enumerate(nodes):
        node = Node(
            cluster=cluster,
            name=node_input.name,
            address=node_input.address,
            ssh_port=node_input.ssh_port,
            ssh_user=node_input.ssh_user,
            credential=credential,
            drbd_node_id=index,
            drbd_address=node_input.drbd_address or node_input.address,
        )
        node.full_clean()
        node.save()
    audit.record(user, audit.Action.CREATE, cluster, after={"nodes": [n.__dict__ for n in nodes]})
    return cluster
