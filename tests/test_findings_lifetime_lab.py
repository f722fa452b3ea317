"""A finding lives as long as its evidence: unreadable is not fixed, stale is not fresh."""

import pytest
from django.urls import reverse

from clusters.models import Cluster, Finding, Job, Membership, Role
from clusters.selectors import cluster_overview
from clusters.services import adoption, collection
from lab import api
from tests.factories import make_user


def collect(cluster):
    return collection.collection_run(collection.collection_create(cluster))


def nodes_down(lab, cluster, down: bool = True) -> None:
    for suffix in "ab":
        api.set_fault(lab.dir, f"{cluster.name}-{suffix}", down=down)
    lab.wait_for_faults()


def identity_differs(lab, cluster, value: str = "deadbeef-r0") -> str:
    """Set r0's t10_dev_id on node b; returns the value it had."""
    node = api.node(lab.dir, f"{cluster.name}-b")
    with node.session():
        attrs = node.state.scst.devices["r0"].attrs
        before, attrs["t10_dev_id"] = attrs["t10_dev_id"], value
        node.dirty_node = True
    return before


def open_finding(cluster, code) -> Finding:
    return Finding.objects.get(cluster=cluster, code=code, resolved_at=None)


def test_finding_stays_open_and_last_known_while_its_nodes_are_unreachable(lab, lab_cluster):
    original = identity_differs(lab, lab_cluster)
    read = collect(lab_cluster)
    mismatch = open_finding(lab_cluster, "SCST_IDENTITY_MISMATCH")
    assert mismatch.severity == "CRITICAL" and mismatch.last_known_at is None
    last_good = max(s.collected_at for s in read.snapshots.all())

    nodes_down(lab, lab_cluster)
    collect(lab_cluster)
    kept = open_finding(lab_cluster, "SCST_IDENTITY_MISMATCH")
    assert kept.pk == mismatch.pk
    assert kept.last_known_at is not None and kept.last_known_at <= last_good
    assert (
        Finding.objects.filter(
            cluster=lab_cluster, code="NODE_UNREACHABLE", resolved_at=None
        ).count()
        == 2
    )
    row = cluster_overview(Cluster.objects.filter(pk=lab_cluster.pk))[0]
    assert row.status == "UNKNOWN" and row.last_known == "CRITICAL"

    nodes_down(lab, lab_cluster, down=False)
    collect(lab_cluster)
    assert open_finding(lab_cluster, "SCST_IDENTITY_MISMATCH").last_known_at is None

    identity_differs(lab, lab_cluster, original)
    collect(lab_cluster)
    assert not Finding.objects.filter(
        cluster=lab_cluster, code="SCST_IDENTITY_MISMATCH", resolved_at=None
    ).exists()  # closed by a fresh read that shows it fixed


def test_last_known_finding_is_on_the_api_and_the_compliance_page(client, lab, lab_cluster):
    identity_differs(lab, lab_cluster)
    collect(lab_cluster)
    nodes_down(lab, lab_cluster)
    collect(lab_cluster)
    user = make_user("viewer", Role.VIEWER, lab_cluster)
    client.force_login(user)
    page = client.get(reverse("compliance")).content.decode()
    assert "SCST_IDENTITY_MISMATCH" in page and "last known" in page
    body = client.get("/api/findings/?severity=CRITICAL").json()
    rows = body["results"] if isinstance(body, dict) else body
    row = next(r for r in rows if r["code"] == "SCST_IDENTITY_MISMATCH")
    assert row["last_known_at"] is not None
    overview = client.get(reverse("cluster-list")).content.decode()
    assert "last known CRITICAL" in overview


@pytest.fixture
def admin(db):
    user = make_user("global-admin")
    Membership.objects.create(user=user, cluster=None, role=Role.ADMIN)
    return user


def test_managed_is_refused_without_a_fresh_read_of_every_node(lab, lab_cluster, admin):
    lab_cluster.mode = Cluster.Mode.MONITORED
    lab_cluster.save()
    collect(lab_cluster)
    api.set_fault(lab.dir, f"{lab_cluster.name}-b", down=True)
    lab.wait_for_faults()
    job = adoption.manage_now(lab_cluster, admin, accepted=set())
    assert job.state == Job.State.REFUSED
    assert "fresh read of every node" in job.summary and f"{lab_cluster.name}-b:" in job.summary
    lab_cluster.refresh_from_db()
    assert lab_cluster.mode == Cluster.Mode.MONITORED

    api.set_fault(lab.dir, f"{lab_cluster.name}-b", down=False)
    lab.wait_for_faults()
    job = adoption.manage_now(lab_cluster, admin, accepted=set())
    assert job.state == Job.State.SUCCEEDED, job.summary
    assert job.snapshots.filter(reachable=True).count() == 2  # read by the job itself
    lab_cluster.refresh_from_db()
    assert lab_cluster.mode == Cluster.Mode.MANAGED


def test_mode_page_says_why_managed_was_refused(client, lab, lab_cluster, admin):
    lab_cluster.mode = Cluster.Mode.MONITORED
    lab_cluster.save()
    nodes_down(lab, lab_cluster)
    client.force_login(admin)
    response = client.post(reverse("adoption-mode", args=[lab_cluster.name]), {"mode": "managed"})
    job = Job.objects.get(cluster=lab_cluster, kind=Job.Kind.MANAGE)
    assert response["Location"].endswith(f"/clusters/{lab_cluster.name}/mode/?job={job.pk}")
    page = client.get(response["Location"]).content.decode()  # the task ran eagerly
    assert 'id="switch-result"' in page and "fresh read of every node" in page
    assert "The cluster stays monitored" in page
    lab_cluster.refresh_from_db()
    assert lab_cluster.mode == Cluster.Mode.MONITORED


def test_overview_counts_luns_exported_size_and_sessions(lab, lab_cluster):
    api.add_session(lab.dir, f"{lab_cluster.name}-a", "iqn.1991-05.com.microsoft:hv1", io_rate_kb=0)
    collect(lab_cluster)
    row = cluster_overview(Cluster.objects.filter(pk=lab_cluster.pk))[0]
    assert row.luns == 2 and row.sessions == 1
    assert row.exported_bytes == 2 * 10 * 1024**3  # sysfs `size` of r0 and r1, once each

    nodes_down(lab, lab_cluster)
    collect(lab_cluster)
    row = cluster_overview(Cluster.objects.filter(pk=lab_cluster.pk))[0]
    assert row.luns == 2  # from each node's last good read, beside the UNKNOWN status
    assert row.status == "UNKNOWN"
