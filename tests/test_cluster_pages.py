"""The cluster list and detail pages show the real inventory, scoped by role."""

from django.urls import reverse

from clusters.models import Role
from tests.factories import make_user


def test_cluster_list_shows_only_clusters_the_user_holds_a_role_on(client, cluster, other_cluster):
    client.force_login(make_user("v", Role.VIEWER, cluster))
    page = client.get(reverse("cluster-list")).content.decode()
    assert cluster.name in page
    assert other_cluster.name not in page


def test_global_grant_sees_every_cluster(client, cluster, other_cluster):
    client.force_login(make_user("g", Role.VIEWER, None))
    page = client.get(reverse("cluster-list")).content.decode()
    assert cluster.name in page and other_cluster.name in page


def test_user_without_role_is_told_to_ask_for_one(client, cluster):
    client.force_login(make_user("nobody"))
    page = client.get(reverse("cluster-list")).content.decode()
    assert "no access to any cluster" in page
    assert cluster.name not in page


def test_cluster_page_shows_nodes_resources_devices_targets_and_luns(client, cluster):
    client.force_login(make_user("v", Role.VIEWER, cluster))
    page = client.get(reverse("cluster-detail", args=[cluster.name])).content.decode()
    for node in cluster.nodes.all():
        assert node.name in page
    device = cluster.devices.get()
    assert device.t10_dev_id in page
    assert "/dev/drbd0 on /dev/vg0/lun0" in page
    for target in cluster.targets.all():
        assert target.name in page
    assert "iqn.1998-01.com.vmware:esx1-12345678" in page
    assert "your role: Viewer" in page


def test_node_data_is_escaped_not_trusted(client, cluster):
    cluster.description = "<script>alert(1)</script>"
    cluster.save()
    client.force_login(make_user("v", Role.VIEWER, cluster))
    page = client.get(reverse("cluster-detail", args=[cluster.name])).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page


def test_login_page_is_served_and_login_leads_to_clusters(client, cluster):
    make_user("alice", Role.VIEWER, cluster)
    assert "Log in" in client.get(reverse("login")).content.decode()
    response = client.post(
        reverse("login"), {"username": "alice", "password": "pw-alice"}, follow=True
    )
    assert cluster.name in response.content.decode()


def test_login_does_not_redirect_off_site(client, cluster):
    make_user("alice", Role.VIEWER, cluster)
    response = client.post(
        reverse("login") + "?next=https://evil.example/",
        {"username": "alice", "password": "pw-alice", "next": "https://evil.example/"},
    )
    assert response.status_code == 302
    assert "evil.example" not in response.headers["Location"]
