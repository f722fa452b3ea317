"""Live values are data (issue 13): whatever a lab node reports — braces, quotes, NUL, a
25 MB attribute — collection, findings, the pages and planning keep working, the value is
shown escaped, pages stay under 1 MB, and the other cluster keeps its findings."""

import re

import pytest
from django.urls import reverse

from clusters.models import Cluster, Finding, Job, Membership, NodeSnapshot, Role
from clusters.services import changes, collection
from clusters.services.labsync import inventory_sync
from lab import api
from tests.factories import make_user

HOSTILE = {
    "t10_vend_id": '"x',
    "prod_id": "ab}cd",
    "usn": "nul\x00here",
}


@pytest.fixture
def two_clusters(db, lab_factory):
    lab = lab_factory(2)
    inventory_sync(lab.manifest)
    names = [c["name"] for c in lab.manifest["clusters"]]
    return lab, [Cluster.objects.get(name=n) for n in names]


def open_codes(cluster) -> set[str]:
    return set(cluster.findings.filter(resolved_at=None).values_list("code", flat=True))


def collect(cluster):
    return collection.collection_run(collection.collection_create(cluster))


def viewer_client(client, clusters):
    user = make_user("viewer")
    Membership.objects.create(user=user, cluster=None, role=Role.VIEWER)
    client.force_login(user)
    return client


@pytest.mark.parametrize(("attr", "value"), sorted(HOSTILE.items()))
def test_a_hostile_value_is_a_finding_and_breaks_nothing(client, two_clusters, attr, value):
    lab, (hostile, other) = two_clusters
    collect(other)
    other_codes = open_codes(other)
    node = f"{hostile.name}-b"
    api.set_device_attr(lab.dir, node, "r1", attr, value)
    collect(hostile)
    codes = open_codes(hostile)
    assert codes & {"SCST_VALUE_UNWRITABLE", "COLLECTION_INCOMPLETE", "DRIFT_SCST"}, codes
    collect(other)
    assert open_codes(other) == other_codes
    viewer_client(client, [hostile, other])
    for url in (
        reverse("cluster-list"),
        reverse("compliance"),
        reverse("cluster-detail", args=[hostile.name]),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        page = response.content.decode()
        assert len(page) < 1_000_000
        # The raw value never reaches the page unescaped (CSRF tokens may hold `"x…`).
        shown = re.sub(r'"[A-Za-z0-9]{40,}"', "", page.replace("&quot;x", ""))
        assert '"x' not in shown or attr != "t10_vend_id"
        assert "\x00" not in page
    operator = make_user("op", Role.OPERATOR, hostile)
    plan = changes.plan_now(hostile, operator, {"kind": "enforce"}, "bring back")
    assert plan.state in (Job.State.SUCCEEDED, Job.State.FAILED), plan.summary


def test_a_25_mb_attribute_makes_the_node_incomplete_not_the_portal_slow(
    client, two_clusters, settings
):
    lab, (hostile, other) = two_clusters
    node = f"{hostile.name}-a"
    api.set_device_attr(lab.dir, node, "r1", "prod_id", "y" * 25_000_000)
    collect(hostile)
    snapshot = NodeSnapshot.objects.filter(node__name=node).latest("collected_at")
    assert len(snapshot.raw_compressed) < 1_000_000
    incomplete = Finding.objects.get(
        cluster=hostile, code="COLLECTION_INCOMPLETE", resolved_at=None
    )
    assert "COLLECT_OUTPUT_MAX_BYTES" in str(incomplete.details)
    viewer_client(client, [hostile, other])
    for url in (reverse("compliance"), reverse("cluster-detail", args=[hostile.name])):
        assert len(client.get(url).content) < 1_000_000
