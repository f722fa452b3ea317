"""Inventory builders for tests: a complete two-node dual-primary cluster in one call."""

from itertools import count

from django.contrib.auth import get_user_model

from clusters.models import (
    Cluster,
    DrbdResource,
    DrbdVolume,
    Initiator,
    InitiatorGroup,
    LunMapping,
    Membership,
    Node,
    Role,
    ScstDevice,
    Target,
)

_ports = count(20000)


def make_user(username: str, role: Role | None = None, cluster: Cluster | None = None, **extra):
    user = get_user_model().objects.create_user(
        username=username, password="pw-" + username, **extra
    )
    if role is not None:
        Membership.objects.create(user=user, cluster=cluster, role=role)
    return user


def make_cluster(name: str = "store-a", devices: int = 1) -> Cluster:
    """Two nodes, one DRBD resource per device, an iSCSI target per node, a group, LUNs."""
    cluster = Cluster.objects.create(name=name, description=f"{name} test cluster")
    nodes = [
        Node.objects.create(
            cluster=cluster,
            name=f"{name}-n{i}",
            address="127.0.0.1",
            ssh_port=next(_ports),
            drbd_node_id=i,
            drbd_address=f"10.0.0.{i + 1}",
        )
        for i in range(2)
    ]
    targets = [
        Target.objects.create(
            cluster=cluster,
            node=node,
            name=f"iqn.2024-01.com.example:{name}.{node.name}",
            rel_tgt_id=i + 1,
        )
        for i, node in enumerate(nodes)
    ]
    groups = []
    for target in targets:
        group = InitiatorGroup.objects.create(target=target, name="esxi")
        Initiator.objects.create(group=group, name="iqn.1998-01.com.vmware:esx1-12345678")
        groups.append(group)
    for d in range(devices):
        resource = DrbdResource.objects.create(cluster=cluster, name=f"r{d}", port=7789 + d)
        for node in nodes:
            DrbdVolume.objects.create(
                resource=resource, node=node, minor=d, backing_disk=f"/dev/vg0/lun{d}"
            )
        device = ScstDevice.objects.create(
            cluster=cluster,
            name=f"lun{d}",
            drbd_resource=resource,
            t10_dev_id=f"{cluster.pk:04x}{d:04x}-{name}"[:24],
            usn=f"{cluster.pk:04x}{d:04x}",
            prod_id=f"lun{d}",
        )
        for group in groups:
            LunMapping.objects.create(device=device, target=group.target, group=group, lun=d)
    return cluster


def add_lun_change(cluster: Cluster, name: str = "vmfs1", lun: int = 1) -> dict:
    """The wizard's add-LUN change for a lab cluster's spare resource r1, on every target."""
    from clusters.services import inventory

    spec = inventory.LunSpec(
        device_name=name,
        resource="r1",
        uses_reservations=True,
        identity=inventory.identity_generate(cluster, name),
        lun=lun,
        lun_sets=[(t.pk, None) for t in Target.objects.filter(cluster=cluster)],
    )
    return {"kind": "add_lun", "spec": spec.as_json()}
