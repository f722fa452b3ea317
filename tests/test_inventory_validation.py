"""Every invalid inventory value is refused, with a message saying what is allowed,
by the model validators and by the database itself."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from clusters.models import Cluster, DrbdResource, DrbdVolume, LunMapping, Node, ScstDevice, Target

HOSTILE = ["lun 1", "lun;rm -rf /", "$(reboot)", "a`id`", "x|y", "../etc", "", "a" * 300]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_device_names_are_refused_with_the_rule(cluster, name):
    device = ScstDevice(cluster=cluster, name=name, t10_dev_id="abc", usn="1", prod_id="p")
    with pytest.raises(ValidationError) as err:
        device.full_clean()
    assert "name" in err.value.message_dict


def test_device_name_message_says_what_is_allowed(cluster):
    device = ScstDevice(cluster=cluster, name="bad name", t10_dev_id="abc", usn="1", prod_id="p")
    with pytest.raises(ValidationError) as err:
        device.full_clean()
    assert "letters, digits, '_', '.', '-'" in err.value.message_dict["name"][0]


@pytest.mark.parametrize(
    "iqn",
    ["iqn.2024-13.com.example:x", "IQN.2024-01.com.example", "iqn.2024-01.com.exa mple", "eui.123"],
)
def test_invalid_iscsi_names_are_refused(cluster, iqn):
    target = Target(cluster=cluster, node=cluster.nodes.first(), name=iqn, rel_tgt_id=9)
    with pytest.raises(ValidationError) as err:
        target.full_clean()
    assert "RFC 3720" in err.value.message_dict["name"][0]


@pytest.mark.parametrize(
    "iqn",
    ["iqn.2024-01.com.example:store.n1", "eui.0123456789ABCDEF", "naa.6001405abcdef0123"[:20]],
)
def test_valid_iscsi_names_are_accepted(cluster, iqn):
    if iqn.startswith("naa.") and len(iqn) != 20:
        pytest.skip("sample length")
    target = Target(cluster=cluster, node=cluster.nodes.first(), name=iqn, rel_tgt_id=9)
    target.full_clean()


@pytest.mark.parametrize("path", ["dev/sdb", "/dev/sdb;reboot", "/dev/../etc/passwd", "/dev/s b"])
def test_backing_disks_must_be_plain_absolute_paths(cluster, path):
    resource = cluster.drbd_resources.first()
    volume = DrbdVolume(resource=resource, node=cluster.nodes.first(), minor=50, backing_disk=path)
    with pytest.raises(ValidationError) as err:
        volume.full_clean()
    assert "absolute path" in err.value.message_dict["backing_disk"][0]


@pytest.mark.parametrize("size", [0, 256, 1000, 8192])
def test_block_sizes_are_powers_of_two_from_512(cluster, size):
    device = cluster.devices.first()
    device.blocksize = size
    with pytest.raises(ValidationError) as err:
        device.full_clean()
    assert "512" in err.value.message_dict["blocksize"][0]


def test_ports_outside_1_to_65535_are_refused(cluster):
    node = cluster.nodes.first()
    node.ssh_port = 70000
    with pytest.raises(ValidationError) as err:
        node.full_clean()
    assert "ssh_port" in err.value.message_dict


def test_lun_clash_in_the_same_lun_set_is_refused_with_the_number(cluster):
    existing = LunMapping.objects.filter(device__cluster=cluster).first()
    clash = LunMapping(
        device=existing.device, target=existing.target, group=existing.group, lun=existing.lun
    )
    with pytest.raises(ValidationError) as err:
        clash.clean()
    assert f"LUN {existing.lun} is already used" in err.value.message_dict["lun"][0]


def test_t10_dev_id_prefix_must_be_unique_in_the_cluster(cluster):
    existing = cluster.devices.first()
    twin = ScstDevice(
        cluster=cluster,
        name="twin",
        t10_dev_id=existing.t10_dev_id[:8] + "zz",
        usn="other",
        prod_id="twin",
    )
    with pytest.raises(ValidationError) as err:
        twin.full_clean()
    assert "first 8 characters" in err.value.message_dict["t10_dev_id"][0]


@pytest.mark.parametrize(
    ("model", "values"),
    [
        (Cluster, {"name": "bad name"}),
        (DrbdResource, {"name": "r;x", "port": 7000}),
        (DrbdResource, {"name": "rx", "port": 0}),
    ],
)
def test_database_refuses_what_validators_refuse(cluster, model, values):
    if model is DrbdResource:
        values = {"cluster": cluster, **values}
    with pytest.raises(IntegrityError), transaction.atomic():
        model.objects.create(**values)


def test_database_refuses_an_unsafe_backing_disk(cluster):
    with pytest.raises(IntegrityError), transaction.atomic():
        DrbdVolume.objects.create(
            resource=cluster.drbd_resources.first(),
            node=cluster.nodes.first(),
            minor=77,
            backing_disk="/dev/sdb; reboot",
        )


def test_database_refuses_a_second_node_with_the_same_name(cluster):
    node = cluster.nodes.first()
    with pytest.raises(IntegrityError), transaction.atomic():
        Node.objects.create(
            cluster=cluster,
            name=node.name,
            address="10.9.9.9",
            drbd_node_id=5,
            drbd_address="10.1.1.1",
        )


def test_database_refuses_duplicate_rel_tgt_id_in_a_cluster(cluster):
    target = cluster.targets.first()
    other_node = cluster.nodes.exclude(pk=target.node_id).first()
    with pytest.raises(IntegrityError), transaction.atomic():
        Target.objects.create(
            cluster=cluster,
            node=other_node,
            name="iqn.2024-01.com.example:dup",
            rel_tgt_id=target.rel_tgt_id,
        )
