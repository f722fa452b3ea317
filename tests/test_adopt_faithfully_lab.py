"""Adoption imports every option the portal models, and asks where the nodes differ."""

import pytest
from django.urls import reverse

from clusters.models import Cluster, DrbdResource, Finding, Membership, Role, ScstDevice
from clusters.services import adoption, collection, hostkeys
from lab import api
from lab.interpreter import run_command
from tests.drbd.support import DRBDADM_84, drbdadm_dump
from tests.factories import make_user

# A DRBD 8.4 resource as an admin wrote it (DRBD 8.4 User's Guide): fencing in disk,
# 8.4's crm-fence-peer.sh and after-resync-target unfence, no node-id, tuning in net/disk,
# a split-brain notifier and startup timeouts. The lab's 8.4 nodes read it as drbdadm
# 8.4 does (tests/lab/test_drbd84_layout.py compares with the real drbdadm-84).
RES_84 = """resource {res} {{
  net {{
    protocol C;
    allow-two-primaries yes;
    after-sb-0pri discard-zero-changes;
    after-sb-1pri discard-secondary;
    after-sb-2pri disconnect;
    max-buffers 8000;
    ping-timeout 10;
  }}
  disk {{
    resync-rate 100M;
    fencing resource-and-stonith;
  }}
  handlers {{
    fence-peer "/usr/lib/drbd/crm-fence-peer.sh";
    after-resync-target "/usr/lib/drbd/crm-unfence-peer.sh";
    split-brain "/usr/lib/drbd/notify-split-brain.sh root";
  }}
  startup {{
    wfc-timeout 30;
    degr-wfc-timeout 60;
  }}
  on {a} {{
    device /dev/drbd{minor} minor {minor};
    disk /dev/lab/{res};
    meta-disk internal;
    address {addr_a}:{port};
  }}
  on {b} {{
    device /dev/drbd{minor} minor {minor};
    disk /dev/lab/{res};
    meta-disk internal;
    address {addr_b}:{port};
  }}
}}
"""


@pytest.fixture
def admin(db):
    user = make_user("global-admin")
    Membership.objects.create(user=user, cluster=None, role=Role.ADMIN)
    return user


def register(lab, admin, version: str = "9") -> Cluster:
    entry = lab.manifest["clusters"][0]
    nodes = [
        adoption.NodeInput(n["name"], n["host"], n["port"], "root", n["address"])
        for n in entry["nodes"]
    ]
    cluster = adoption.cluster_register(
        admin, entry["name"], version, nodes, (lab.dir / "client_key").read_text()
    )
    collection.collection_run(collection.collection_create(cluster, admin))
    for node in cluster.nodes.all():
        hostkeys.host_key_approve(node, admin, "compared with the console")
    collection.collection_run(collection.collection_create(cluster, admin))
    return cluster


def open_codes(cluster) -> set[str]:
    return set(
        Finding.objects.filter(cluster=cluster, resolved_at=None).values_list("code", flat=True)
    )


def write_84_files(lab) -> None:
    entry = lab.manifest["clusters"][0]
    (a, b) = entry["nodes"]
    for node in (a, b):
        root = api.node(lab.dir, node["name"])
        for minor, res in enumerate(("r0", "r1")):
            text = RES_84.format(
                res=res, minor=minor, port=7789 + minor, a=a["name"], b=b["name"],
                addr_a=a["address"], addr_b=b["address"],
            )  # fmt: skip
            root.host_path(f"/etc/drbd.d/{res}.res").write_text(text)


def test_import_of_a_drbd84_cluster_with_fencing_and_handlers_has_no_drift(lab_factory, admin):
    lab = lab_factory(1, "8.4")
    write_84_files(lab)
    cluster = register(lab, admin, "8.4")
    adoption.inventory_adopt(cluster, admin)
    r0 = DrbdResource.objects.get(cluster=cluster, name="r0")
    assert r0.options["handlers"]["fence-peer"] == "/usr/lib/drbd/crm-fence-peer.sh"
    assert r0.options["disk"]["fencing"] == "resource-and-stonith"
    assert "fencing" not in r0.options["net"]
    assert r0.options["startup"] == {"wfc-timeout": "30", "degr-wfc-timeout": "60"}
    collection.collection_run(collection.collection_create(cluster, admin))
    codes = open_codes(cluster)
    assert not codes & {"DRIFT_DRBD", "DRIFT_SCST", "DRBD_FENCING"}, codes
    assert "COLLECTION_INCOMPLETE" not in codes, codes  # drbdsetup-84's show is read too


def test_drbd84_fencing_is_judged_where_drbd84_keeps_it(lab_factory, admin):
    """8.4 runs fencing as a disk option: a node adjusted to resource-only is reported,
    with the volume it was read from, and as drift from the imported inventory."""
    lab = lab_factory(1, "8.4")
    write_84_files(lab)
    cluster = register(lab, admin, "8.4")
    adoption.inventory_adopt(cluster, admin)
    node_b = api.node(lab.dir, f"{cluster.name}-b")
    res = node_b.host_path("/etc/drbd.d/r0.res")
    res.write_text(res.read_text().replace("fencing resource-and-stonith", "fencing resource-only"))
    assert run_command(node_b, "drbdadm adjust r0").exit_status == 0
    collection.collection_run(collection.collection_create(cluster, admin))
    finding = Finding.objects.get(cluster=cluster, code="DRBD_FENCING", resolved_at=None)
    assert [(d["node"], d["text"]) for d in finding.details] == [
        (node_b.name, "fencing is resource-only")
    ]
    assert "volume 0" in finding.details[0]["evidence"]
    assert "DRIFT_DRBD" in open_codes(cluster)


def test_imported_options_are_what_the_next_apply_writes(lab_factory, admin, tmp_path):
    from clusters.desired import desired_cluster

    lab = lab_factory(1, "8.4")
    write_84_files(lab)
    cluster = register(lab, admin, "8.4")
    adoption.inventory_adopt(cluster, admin)
    text = desired_cluster(cluster)[f"{cluster.name}-a"].drbd_files["/etc/drbd.d/r0.res"]
    # DRBD 8.4 reads fencing in disk: the rendered file puts it there.
    assert "disk {\n        resync-rate 100M;\n        fencing resource-and-stonith;" in text
    assert "after-resync-target /usr/lib/drbd/crm-unfence-peer.sh;" in text
    assert "become-primary-on" not in text  # not on the nodes, so not added
    if DRBDADM_84.exists():  # what an 8.4 node's drbdadm reads (the apply validates it so)
        real = drbdadm_dump(text, tmp_path, version="8.4")
        assert real.returncode == 0, real.stderr
        assert "fencing          resource-and-stonith;" in real.stdout.split("    disk {")[1]


def test_import_of_two_equal_nodes_leaves_no_drift(lab, admin):
    cluster = register(lab, admin)
    adoption.inventory_adopt(cluster, admin)
    collection.collection_run(collection.collection_create(cluster, admin))
    assert not open_codes(cluster) & {"DRIFT_DRBD", "DRIFT_SCST"}


def test_differing_identities_need_a_choice(lab, admin):
    name = lab.manifest["clusters"][0]["name"]
    api.set_device_attr(lab.dir, f"{name}-b", "r0", "t10_dev_id", "deadbeef-r0")
    cluster = register(lab, admin)
    with pytest.raises(adoption.AdoptionError, match="r0 t10_dev_id"):
        adoption.inventory_adopt(cluster, admin)
    assert not ScstDevice.objects.filter(cluster=cluster).exists()

    found = adoption.discovery(cluster)
    row = next(r for r in found.rows if r["key"] == "device:r0:t10_dev_id")
    node_b_value = row["raw"][1]
    preview = adoption.adoption_preview(cluster, {row["key"]: node_b_value})
    assert not ScstDevice.objects.filter(cluster=cluster).exists()  # rolled back
    assert [c for c in preview.changes if c[1] == "device:r0"] == [
        (f"{name}-a", "device:r0", f"t10_dev_id is {row['raw'][0]}, inventory says deadbeef-r0")
    ]

    adoption.inventory_adopt(cluster, admin, {row["key"]: node_b_value})
    assert ScstDevice.objects.get(cluster=cluster, name="r0").t10_dev_id == "deadbeef-r0"


def test_a_typed_value_is_checked_like_any_inventory_value(lab, admin):
    name = lab.manifest["clusters"][0]["name"]
    api.set_device_attr(lab.dir, f"{name}-b", "r0", "t10_dev_id", "deadbeef-r0")
    cluster = register(lab, admin)
    with pytest.raises(adoption.AdoptionError, match="cannot be used"):
        adoption.inventory_adopt(cluster, admin, {"device:r0:t10_dev_id": "bad value;rm"})
    adoption.inventory_adopt(cluster, admin, {"device:r0:t10_dev_id": "cafe0000-r0"})
    assert ScstDevice.objects.get(cluster=cluster, name="r0").t10_dev_id == "cafe0000-r0"


def test_a_typed_value_for_a_relation_is_refused_not_a_crash(lab, admin):
    # `mappings` is ScstDevice's reverse relation, not a field: it has no clean().
    name = lab.manifest["clusters"][0]["name"]
    api.set_device_attr(lab.dir, f"{name}-b", "r0", "t10_dev_id", "deadbeef-r0")
    cluster = register(lab, admin)
    with pytest.raises(adoption.AdoptionError, match=r"device:r0:mappings: .*no field"):
        adoption.inventory_adopt(
            cluster, admin, {"device:r0:t10_dev_id": "cafe0000-r0", "device:r0:mappings": "1"}
        )
    assert not ScstDevice.objects.filter(cluster=cluster).exists()


def test_import_page_shows_each_difference_previews_and_asks_to_confirm(client, lab, admin):
    name = lab.manifest["clusters"][0]["name"]
    api.set_device_attr(lab.dir, f"{name}-b", "r0", "t10_dev_id", "deadbeef-r0")
    cluster = register(lab, admin)
    client.force_login(admin)
    url = reverse("adoption-import", args=[cluster.name])
    page = client.get(reverse("adoption-discover", args=[cluster.name])).content.decode()
    assert 'name="choice-device:r0:t10_dev_id"' in page
    data = {"choice-device:r0:t10_dev_id": "1", "action": "preview"}
    page = client.post(url, data).content.decode()
    assert "Preview" in page and "inventory says deadbeef-r0" in page
    assert not ScstDevice.objects.filter(cluster=cluster).exists()
    page = client.post(url, {**data, "action": "import"}).content.decode()
    assert "Confirm" in page and not ScstDevice.objects.filter(cluster=cluster).exists()
    client.post(url, {**data, "action": "import", "confirm": "on"})
    assert ScstDevice.objects.get(cluster=cluster, name="r0").t10_dev_id == "deadbeef-r0"
