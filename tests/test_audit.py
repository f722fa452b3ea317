"""The audit trail: admin edits, role changes, mutes and host-key approvals are recorded
with who, what, before/after and why; the trail page is scoped and never editable."""

import csv
import io
import json
from datetime import timedelta

import asyncssh
import pytest
from django.urls import reverse
from django.utils import timezone

from clusters import audit, ssh
from clusters.audit import Action, AuditEntry
from clusters.models import Membership, Node, Role, SshCredential
from clusters.services import findings as finding_services
from clusters.services import hostkeys
from tests import records
from tests.factories import make_user


@pytest.fixture
def superuser_client(client, db):
    client.force_login(make_user("admin", is_superuser=True, is_staff=True))
    return client


def node_form(node: Node, **changes) -> dict:
    data = {
        "cluster": node.cluster_id,
        "name": node.name,
        "address": node.address,
        "ssh_port": node.ssh_port,
        "ssh_user": node.ssh_user,
        "credential": node.credential_id or "",
        "drbd_node_id": node.drbd_node_id,
        "drbd_address": node.drbd_address,
    }
    return data | changes


def test_admin_change_records_before_and_after(superuser_client, cluster):
    node = cluster.nodes.order_by("name").first()
    url = reverse("admin:clusters_node_change", args=[node.pk])
    response = superuser_client.post(url, node_form(node, address="192.0.2.7"))
    assert response.status_code == 302
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.username, entry.cluster, entry.object_id) == (
        Action.CHANGE,
        "admin",
        cluster,
        str(node.pk),
    )
    assert entry.object_type == "clusters.node"
    assert ("address", "127.0.0.1", "192.0.2.7") in entry.changed_fields()
    assert [name for name, _, _ in entry.changed_fields()] == ["address"]


def test_admin_create_and_delete_are_recorded(superuser_client, cluster):
    node = cluster.nodes.order_by("name").first()
    data = node_form(node, name="store-a-n9", ssh_port=2299, drbd_node_id=9)
    superuser_client.post(reverse("admin:clusters_node_add"), data)
    created = Node.objects.get(name="store-a-n9")
    superuser_client.post(reverse("admin:clusters_node_delete", args=[created.pk]), {"post": "yes"})
    assert not Node.objects.filter(name="store-a-n9").exists()
    create, delete = AuditEntry.objects.order_by("pk")
    assert (create.action, create.before, create.after["name"]) == (
        Action.CREATE,
        None,
        "store-a-n9",
    )
    assert (delete.action, delete.before["name"], delete.after) == (
        Action.DELETE,
        "store-a-n9",
        None,
    )
    assert create.request_id != delete.request_id  # two clicks, two groups


def test_inline_changes_share_the_request_id_of_their_parent(superuser_client, cluster):
    nodes = list(cluster.nodes.order_by("name"))
    data = {"name": cluster.name, "description": "renamed", "drbd_version": "9"}
    data |= {"mode": cluster.mode}
    data |= {
        "nodes-TOTAL_FORMS": "2",
        "nodes-INITIAL_FORMS": "2",
        "nodes-MIN_NUM_FORMS": "0",
        "nodes-MAX_NUM_FORMS": "1000",
    }
    for i, node in enumerate(nodes):
        fields = node_form(node, ssh_port=node.ssh_port + 1000 if i == 0 else node.ssh_port)
        fields.pop("drbd_address")
        fields.pop("cluster")
        data |= {f"nodes-{i}-{k}": v for k, v in fields.items()}
        data |= {f"nodes-{i}-id": node.pk, f"nodes-{i}-cluster": cluster.pk}
    response = superuser_client.post(
        reverse("admin:clusters_cluster_change", args=[cluster.pk]), data
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    entries = list(AuditEntry.objects.order_by("pk"))
    assert [(e.object_type, e.action) for e in entries] == [
        ("clusters.cluster", Action.CHANGE),
        ("clusters.node", Action.CHANGE),
    ]
    assert len({e.request_id for e in entries}) == 1
    assert entries[1].changed_fields() == [
        ("ssh_port", nodes[0].ssh_port, nodes[0].ssh_port + 1000)
    ]


def test_role_changes_are_recorded(superuser_client, cluster):
    user = make_user("alice", Role.VIEWER, cluster)
    membership = Membership.objects.get(user=user)
    url = reverse("admin:clusters_membership_change", args=[membership.pk])
    data = {"user": user.pk, "cluster": cluster.pk, "role": "admin"}
    assert superuser_client.post(url, data).status_code == 302
    entry = AuditEntry.objects.get()
    assert entry.object_type == "clusters.membership"
    assert entry.changed_fields() == [("role", "viewer", "admin")]
    assert entry.cluster == cluster


def test_private_keys_never_reach_the_trail(superuser_client):
    key = asyncssh.generate_private_key("ssh-ed25519")
    pem = key.export_private_key().decode()
    data = {"name": "lab-key", "private_key": pem}
    assert (
        superuser_client.post(reverse("admin:clusters_sshcredential_add"), data).status_code == 302
    )
    credential = SshCredential.objects.get(name="lab-key")
    superuser_client.post(
        reverse("admin:clusters_sshcredential_delete", args=[credential.pk]), {"post": "yes"}
    )
    stored = json.dumps(list(AuditEntry.objects.values("before", "after", "object_repr")))
    assert "PRIVATE KEY" not in stored
    assert pem.splitlines()[1][:20] not in stored
    assert credential.private_key_encrypted not in stored
    assert "ssh-ed25519" in stored  # the public half shows which key it was


def test_mute_is_recorded_with_its_reason(cluster):
    operator = make_user("op", Role.OPERATOR, cluster)
    finding = records.finding(cluster)
    until = timezone.now() + timedelta(days=1)
    with audit.action() as request_id:
        mute = finding_services.mute_create(finding, operator, " vendor ticket 42 ", until)
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.reason, entry.user, entry.cluster) == (
        Action.MUTE,
        "vendor ticket 42",
        operator,
        cluster,
    )
    assert (entry.object_id, entry.request_id) == (str(mute.pk), request_id)
    assert entry.after["code"] == finding.code


def new_host_key() -> str:
    return asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()


def test_host_key_approval_needs_a_reason(cluster):
    node = cluster.nodes.first()
    node.pending_host_key = new_host_key()
    node.save()
    admin = make_user("a", Role.ADMIN, cluster)
    with pytest.raises(hostkeys.HostKeyError, match="verified"):
        hostkeys.host_key_approve(node, admin, "   ")
    node.refresh_from_db()
    assert node.host_key == ""
    assert not AuditEntry.objects.exists()


def test_host_key_approval_through_the_page_is_recorded(client, cluster):
    node = cluster.nodes.order_by("name").first()
    offered = node.pending_host_key = new_host_key()
    node.save()
    client.force_login(make_user("a", Role.ADMIN, cluster))
    url = reverse("host-key-approve", args=[cluster.name, node.name])
    data = {"fingerprint": ssh.fingerprint(offered), "reason": "checked on the iLO console"}
    response = client.post(url, data)
    assert response.status_code == 302
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.reason) == (Action.APPROVE_HOST_KEY, "checked on the iLO console")
    assert entry.changed_fields() == [("host_key", "", offered), ("pending_host_key", offered, "")]
    assert str(entry.request_id) == response.headers["X-Request-ID"]


def test_every_response_carries_a_fresh_request_id(client, cluster):
    client.force_login(make_user("v", Role.VIEWER, cluster))
    first = client.get(reverse("cluster-list"), HTTP_X_REQUEST_ID="chosen-by-client")
    second = client.get(reverse("cluster-list"))
    ids = {first.headers["X-Request-ID"], second.headers["X-Request-ID"]}
    assert len(ids) == 2 and "chosen-by-client" not in ids


# --- The page -------------------------------------------------------------------------


@pytest.fixture
def trail(cluster, other_cluster):
    """One entry on each cluster and one on no cluster (a global role)."""
    root = make_user("root", is_superuser=True, is_staff=True)
    for target in (cluster, other_cluster):
        node = target.nodes.first()
        audit.record(root, Action.CHANGE, node, before={"x": 1}, after={"x": 2}, reason="r")
    membership = Membership.objects.create(user=make_user("g"), cluster=None, role=Role.VIEWER)
    audit.record(root, Action.CREATE, membership, after=audit.snapshot(membership))


def shown(client, query: str = "") -> list[str]:
    response = client.get(reverse("audit") + query)
    assert response.status_code == 200
    page = response.content.decode()
    rows = page.split('<tr class="audit-entry">')[1:]
    return sorted(row.split('class="cluster">')[1].split("</td>")[0] for row in rows)


def test_superusers_see_every_entry(client, trail):
    client.force_login(make_user("su", is_superuser=True))
    assert shown(client) == ["store-a", "store-b", "—"]


def test_cluster_admins_see_only_their_clusters(client, cluster, trail):
    client.force_login(make_user("a", Role.ADMIN, cluster))
    assert shown(client) == ["store-a"]


def test_global_admins_also_see_entries_of_no_cluster(client, trail):
    client.force_login(make_user("ga", Role.ADMIN, None))
    assert shown(client) == ["store-a", "store-b", "—"]


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
def test_below_admin_the_page_is_refused(client, cluster, trail, role):
    client.force_login(make_user("u", role, cluster))
    assert client.get(reverse("audit")).status_code == 403


def test_filters_by_cluster_user_and_action(client, trail):
    client.force_login(make_user("su", is_superuser=True))
    assert shown(client, "?cluster=store-b") == ["store-b"]
    assert shown(client, "?action=create") == ["—"]
    assert shown(client, "?user=nobody") == []
    assert shown(client, "?user=root&action=change") == ["store-a", "store-b"]
    assert shown(client, "?cluster=no-such&action=bogus") == ["store-a", "store-b", "—"]


def test_cluster_admin_cannot_filter_their_way_into_another_cluster(client, cluster, trail):
    client.force_login(make_user("a", Role.ADMIN, cluster))
    assert shown(client, "?cluster=store-b") == ["store-a"]  # not a choice: ignored


def test_the_trail_is_read_only_in_the_admin(superuser_client, trail):
    entry = AuditEntry.objects.filter(reason="r").first()
    change = reverse("admin:clusters_auditentry_change", args=[entry.pk])
    page = superuser_client.get(change).content.decode()
    assert 'name="_save"' not in page
    assert superuser_client.post(change, {"reason": "rewritten"}).status_code == 403
    entry.refresh_from_db()
    assert entry.reason == "r"
    assert superuser_client.get(reverse("admin:clusters_auditentry_add")).status_code == 403
    delete = reverse("admin:clusters_auditentry_delete", args=[entry.pk])
    assert superuser_client.post(delete, {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


# --- Readable changes and the CSV export ---------------------------------------------------


def test_inventory_changes_read_as_named_fields(client, cluster):
    from clusters.services import inventory

    before = inventory.inventory_export(cluster)
    device = cluster.devices.get(name="lun0")
    device.write_through = 0
    device.save()
    after = inventory.inventory_export(cluster)
    root = make_user("root", is_superuser=True)
    audit.record(root, Action.APPLY, cluster, before=after, after=before, reason="enforce")
    client.force_login(root)
    page = client.get(reverse("audit")).content.decode()
    assert "<strong>device lun0</strong>: <code>write_through</code> 0 → 1" in page
    changes = page.split('class="changes">')[1].split("</td>")[0]
    assert "{&#x27;" not in changes and "[" not in changes  # no Python reprs of inventories


def test_added_objects_are_named_with_their_fields_folded(cluster):
    entry = audit.AuditEntry(
        before={"devices": [], "targets": [{"name": "iqn.t", "luns": []}]},
        after={
            "devices": [{"name": "vmfs1", "nv_cache": 0, "write_through": 1}],
            "targets": [{"name": "iqn.t", "luns": [["esxi", 1, "vmfs1"]]}],
        },
    )
    lines = [line for change in entry.changes() for line in change.lines()]
    assert lines == [
        "device vmfs1: added (nv_cache 0, write_through 1)",
        "target iqn.t LUN 1 in group esxi: added (device vmfs1)",
    ]


def test_csv_export_has_every_filtered_entry_with_readable_changes(client, trail):
    client.force_login(make_user("su", is_superuser=True))
    response = client.get(reverse("audit-export") + "?cluster=store-a")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-')
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["when", "user", "action"]
    assert [(r[1], r[2], r[3], r[6], r[7]) for r in rows[1:]] == [
        ("root", "Changed", "store-a", "x 1 → 2", "r")
    ]
    assert rows[1][0].endswith(" UTC")


def test_csv_export_is_scoped_and_defuses_formulas(client, cluster, trail):
    node = cluster.nodes.first()
    audit.record(make_user("x"), Action.CHANGE, node, after={"a": 1}, reason="=HYPERLINK(1)")
    client.force_login(make_user("a", Role.ADMIN, cluster))
    body = b"".join(client.get(reverse("audit-export")).streaming_content).decode()
    rows = list(csv.reader(io.StringIO(body)))[1:]
    assert {r[3] for r in rows} == {"store-a"}
    assert "'=HYPERLINK(1)" in [r[7] for r in rows]


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
def test_below_admin_the_export_is_refused(client, cluster, trail, role):
    client.force_login(make_user("u", role, cluster))
    assert client.get(reverse("audit-export")).status_code == 403


def test_filters_by_object_and_date(client, trail):
    client.force_login(make_user("su", is_superuser=True))
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    assert shown(client, f"?since={tomorrow}") == []
    assert shown(client, f"?until={tomorrow}") == ["store-a", "store-b", "—"]
    assert shown(client, "?object=store-b-n") == ["store-b"]
