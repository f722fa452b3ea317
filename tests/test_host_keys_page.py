"""Approving a node's SSH host key: cluster admins only, after a confirmation page that
shows the SHA256 fingerprint and asks how it was verified."""

import asyncssh
import pytest
from django.urls import reverse

from clusters import ssh
from clusters.models import NodeSnapshot, Role
from clusters.services import hostkeys
from tests.factories import make_user


def new_host_key() -> str:
    return asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()


@pytest.fixture
def node(cluster):
    node = cluster.nodes.order_by("name").first()
    node.pending_host_key = new_host_key()
    node.save()
    return node


def approve_url(node) -> str:
    return reverse("host-key-approve", args=[node.cluster.name, node.name])


def cluster_page(client, cluster) -> str:
    return client.get(reverse("cluster-detail", args=[cluster.name])).content.decode()


def test_cluster_page_shows_pending_key_and_approve_button_to_admins(client, cluster, node):
    client.force_login(make_user("a", Role.ADMIN, cluster))
    page = cluster_page(client, cluster)
    assert "waiting for approval" in page
    assert ssh.fingerprint(node.pending_host_key) in page
    assert f'href="{approve_url(node)}">Approve host key' in page


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
def test_no_approve_button_below_admin(client, cluster, node, role):
    client.force_login(make_user("u", role, cluster))
    assert "Approve host key" not in cluster_page(client, cluster)


def test_confirmation_page_shows_the_sha256_fingerprint_and_asks_for_a_reason(
    client, cluster, node
):
    client.force_login(make_user("a", Role.ADMIN, cluster))
    page = client.get(approve_url(node)).content.decode()
    fingerprint = ssh.fingerprint(node.pending_host_key)
    assert fingerprint.startswith("SHA256:")
    assert fingerprint in page
    assert 'name="reason"' in page
    node.refresh_from_db()
    assert node.host_key == ""  # looking is not approving


@pytest.fixture
def offers(monkeypatch):
    """What the node offers when the approval checks it (no SSH server in these tests)."""
    offered = {}

    def offered_host_key(node):
        if node.name not in offered:
            raise ssh.NodeUnreachable(f"cannot reach {node.address}:{node.ssh_port}")
        return offered[node.name]

    monkeypatch.setattr(hostkeys, "offered_host_key", offered_host_key)
    return offered


def test_admin_approves_with_a_reason_and_the_key_is_pinned(client, cluster, node, offers):
    offers[node.name] = node.pending_host_key
    client.force_login(make_user("a", Role.ADMIN, cluster))
    offered = node.pending_host_key
    response = client.post(
        approve_url(node),
        {"fingerprint": ssh.fingerprint(offered), "reason": "checked on the iLO console"},
        follow=True,
    )
    node.refresh_from_db()
    assert (node.host_key, node.pending_host_key) == (offered, "")
    page = response.content.decode()
    assert f"host key {ssh.fingerprint(offered)} is now pinned" in page
    assert "pinned <code>" in page


def test_approval_without_reason_pins_nothing(client, cluster, node):
    client.force_login(make_user("a", Role.ADMIN, cluster))
    response = client.post(
        approve_url(node), {"fingerprint": ssh.fingerprint(node.pending_host_key), "reason": ""}
    )
    assert "Say how you verified the fingerprint" in response.content.decode()
    node.refresh_from_db()
    assert node.host_key == ""


def test_a_key_that_changed_after_the_admin_looked_is_not_pinned(client, cluster, node):
    client.force_login(make_user("a", Role.ADMIN, cluster))
    shown = ssh.fingerprint(node.pending_host_key)
    node.pending_host_key = new_host_key()  # the node now offers another key
    node.save()
    response = client.post(approve_url(node), {"fingerprint": shown, "reason": "checked"})
    page = response.content.decode()
    assert "now offers a different host key" in page
    assert ssh.fingerprint(node.pending_host_key) in page
    node.refresh_from_db()
    assert node.host_key == ""


@pytest.mark.parametrize(("role", "status"), [(Role.VIEWER, 403), (Role.OPERATOR, 403)])
def test_only_admins_may_approve(client, cluster, node, role, status):
    client.force_login(make_user("u", role, cluster))
    fingerprint = ssh.fingerprint(node.pending_host_key)
    response = client.post(approve_url(node), {"fingerprint": fingerprint, "reason": "x"})
    assert response.status_code == status
    node.refresh_from_db()
    assert node.host_key == ""


def test_admin_of_another_cluster_does_not_see_the_node(client, cluster, other_cluster, node):
    client.force_login(make_user("b", Role.ADMIN, other_cluster))
    assert client.get(approve_url(node)).status_code == 404


def test_changed_key_is_shown_in_red_with_both_fingerprints(client, cluster, node):
    pinned = new_host_key()
    node.host_key = pinned
    node.save()
    client.force_login(make_user("a", Role.ADMIN, cluster))
    page = cluster_page(client, cluster)
    assert '<span class="badge critical">CHANGED</span>' in page
    assert ssh.fingerprint(pinned) in page and ssh.fingerprint(node.pending_host_key) in page
    confirm = client.get(approve_url(node)).content.decode()
    assert "The host key CHANGED" in confirm and ssh.fingerprint(pinned) in confirm


def test_nothing_to_approve(client, cluster):
    node = cluster.nodes.first()
    client.force_login(make_user("a", Role.ADMIN, cluster))
    page = client.get(approve_url(node)).content.decode()
    assert "offers no host key waiting for approval" in page


def test_a_key_the_node_no_longer_offers_is_not_pinned(client, cluster, node, offers):
    pinned = new_host_key()
    node.host_key = pinned
    node.save()
    offers[node.name] = pinned  # the node went back to its pinned key
    client.force_login(make_user("a", Role.ADMIN, cluster))
    shown = ssh.fingerprint(node.pending_host_key)
    page = client.post(approve_url(node), {"fingerprint": shown, "reason": "checked"})
    assert f"no longer offers {shown}" in page.content.decode()
    node.refresh_from_db()
    assert node.host_key == pinned


def test_a_node_that_cannot_be_reached_gets_no_key_pinned(client, cluster, node, offers):
    client.force_login(make_user("a", Role.ADMIN, cluster))
    shown = ssh.fingerprint(node.pending_host_key)
    page = client.post(approve_url(node), {"fingerprint": shown, "reason": "checked"})
    assert "Nothing was pinned" in page.content.decode()
    node.refresh_from_db()
    assert node.host_key == ""


def test_the_service_pins_only_the_fingerprint_shown(cluster, node, offers):
    offers[node.name] = node.pending_host_key
    admin = make_user("a", Role.ADMIN, cluster)
    with pytest.raises(hostkeys.HostKeyError, match="another key waiting"):
        hostkeys.host_key_approve(node, admin, "checked", fingerprint="SHA256:something-else")
    node.refresh_from_db()
    assert node.host_key == ""


def test_a_login_with_the_pinned_key_clears_a_waiting_key(cluster, node):
    from django.utils import timezone

    node.host_key = new_host_key()
    node.save()
    NodeSnapshot.objects.create(
        node=node, collected_at=timezone.now(), reachable=True, facts={"host_key_problem": ""}
    )
    node.refresh_from_db()
    assert node.pending_host_key == ""


def test_a_collection_refused_for_its_key_keeps_the_waiting_key(cluster, node):
    from django.utils import timezone

    NodeSnapshot.objects.create(
        node=node,
        collected_at=timezone.now(),
        reachable=False,
        error="host key changed",
        facts={"host_key_problem": "changed"},
    )
    node.refresh_from_db()
    assert node.pending_host_key != ""
