"""Inventory → per-node desired config: identical identity, each node's own DRBD device,
distinct rel_tgt_id, and .res files the real drbdadm accepts."""

import subprocess
from pathlib import Path

import pytest

from clusters.desired import desired_cluster
from clusters.models import Cluster, Target
from tests.factories import make_cluster

DRBDADM = {"9": "/usr/sbin/drbdadm", "8.4": "/usr/lib/drbd/drbdadm-84"}


@pytest.fixture
def two_device_cluster(db):
    cluster = make_cluster("store-d", devices=2)
    # node n1 keeps its DRBD device on another minor: filenames must follow each node
    volume = cluster.drbd_resources.get(name="r1").volumes.get(node__name="store-d-n1")
    volume.minor = 7
    volume.save()
    return cluster


def test_both_nodes_get_the_same_identity_and_their_own_drbd_device(two_device_cluster):
    desired = desired_cluster(two_device_cluster)
    n0, n1 = desired["store-d-n0"].scst_config, desired["store-d-n1"].scst_config
    for device in ("lun0", "lun1"):
        a, b = n0.find_device(device)[1].attributes, n1.find_device(device)[1].attributes
        for attr in ("t10_dev_id", "usn", "write_through"):
            assert a.get(attr) == b.get(attr) is not None
        # prod_id equal to SCST's default (the device name) is left to SCST on both nodes.
        assert a.get("prod_id") == b.get("prod_id")
    assert n0.find_device("lun1")[1].attributes.get("filename") == "/dev/drbd1"
    assert n1.find_device("lun1")[1].attributes.get("filename") == "/dev/drbd7"


def test_each_node_renders_only_its_own_target_with_its_rel_tgt_id(two_device_cluster):
    desired = desired_cluster(two_device_cluster)
    seen = {}
    for node, want in desired.items():
        [target] = want.scst_config.drivers["iscsi"].targets.values()
        assert target.name == Target.objects.get(node__name=node).name
        seen[node] = target.attributes.get("rel_tgt_id")
    assert len(set(seen.values())) == 2


def test_safe_values_are_rendered_and_unsafe_inventory_is_rendered_as_it_is(two_device_cluster):
    device = two_device_cluster.devices.get(name="lun0")
    device.write_through, device.nv_cache = 0, 1
    device.save()
    text = desired_cluster(two_device_cluster)["store-d-n0"].scst_file
    lun0 = text[text.index("DEVICE lun0") : text.index("DEVICE lun1")]
    assert "nv_cache 1" in lun0 and "write_through" not in lun0  # 0 is the default
    lun1 = text[text.index("DEVICE lun1") :]
    assert "write_through 1" in lun1


@pytest.mark.parametrize("version", ["9", "8.4"])
def test_real_drbdadm_accepts_every_rendered_resource(two_device_cluster, tmp_path, version):
    if not Path(DRBDADM[version]).exists():
        pytest.skip(f"{DRBDADM[version]} is not installed")
    Cluster.objects.filter(pk=two_device_cluster.pk).update(drbd_version=version)
    two_device_cluster.refresh_from_db()
    files = desired_cluster(two_device_cluster)["store-d-n0"].drbd_files
    assert set(files) == {"/etc/drbd.d/r0.res", "/etc/drbd.d/r1.res"}
    for path, text in files.items():
        staged = tmp_path / Path(path).name
        staged.write_text(text)
        result = subprocess.run(
            [DRBDADM[version], "-c", str(staged), "dump"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "allow-two-primaries" in result.stdout
        if version == "8.4":
            assert "become-primary-on both" in result.stdout
