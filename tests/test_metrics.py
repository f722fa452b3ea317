"""The Prometheus endpoint: values read from the records, for scrapers with a token."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from clusters.models import Job, Mute, NodeSnapshot, Role
from tests import records
from tests.factories import make_user

URL = reverse("metrics")


def samples(text: str) -> dict[tuple, float]:
    """{(metric name, sorted labels): value} of every sample in the exposition."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(user) -> str:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    response = client.get(URL, HTTP_ACCEPT="text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


@pytest.fixture
def seeded(cluster, other_cluster):
    """Findings (one muted, one resolved), snapshots and jobs with known values."""
    records.finding(cluster, "CRITICAL", code="SCST_NV_CACHE_ON")
    records.finding(cluster, "CRITICAL", code="SCST_WRITE_THROUGH_OFF")
    muted = records.finding(cluster, "WARNING", code="DRBD_FENCING", object_ref="drbd:r0")
    records.finding(cluster, "INFO", code="GONE", resolved=True)
    records.finding(other_cluster, "WARNING", code="DRBD_FENCING", object_ref="drbd:r0")
    Mute.objects.create(
        cluster=cluster,
        code=muted.code,
        object_ref=muted.object_ref,
        severity_at_mute="WARNING",
        reason="vendor ticket",
        created_by=make_user("op", Role.OPERATOR, cluster),
        until=timezone.now() + timedelta(days=1),
    )
    n0, n1 = cluster.nodes.order_by("name")
    old = records.snapshot(n0, age=600, reachable=False)
    NodeSnapshot.objects.filter(pk=old.pk).update(duration_ms=20000)
    latest = records.snapshot(n0, age=5, reachable=True)
    NodeSnapshot.objects.filter(pk=latest.pk).update(duration_ms=1250)
    records.snapshot(n1, age=5, reachable=False)
    for state in ("succeeded", "succeeded", "failed"):
        Job.objects.create(kind=Job.Kind.COLLECT, cluster=cluster, state=state)
    Job.objects.create(kind=Job.Kind.PLAN, cluster=None, state="partial")
    return latest


def test_findings_by_cluster_and_severity_open_and_unmuted(personas, seeded):
    values = samples(scrape(personas["superuser"]))

    def findings(cluster: str, severity: str) -> float:
        key = (("cluster", cluster), ("severity", severity))
        return values[("scst_portal_findings_open", key)]

    assert findings("store-a", "CRITICAL") == 2
    assert findings("store-a", "WARNING") == 0  # muted
    assert findings("store-a", "INFO") == 0  # resolved
    assert findings("store-b", "WARNING") == 1
    assert findings("store-b", "CRITICAL") == 0


def test_node_reachability_and_duration_come_from_the_latest_snapshot(personas, seeded):
    values = samples(scrape(personas["global_viewer"]))
    n0 = (("cluster", "store-a"), ("node", "store-a-n0"))
    n1 = (("cluster", "store-a"), ("node", "store-a-n1"))
    assert values[("scst_portal_node_reachable", n0)] == 1
    assert values[("scst_portal_node_reachable", n1)] == 0
    assert values[("scst_portal_node_collection_duration_seconds", n0)] == 1.25
    collected = values[("scst_portal_node_last_collection_timestamp_seconds", n0)]
    assert collected == pytest.approx(seeded.collected_at.timestamp())
    never = (("cluster", "store-b"), ("node", "store-b-n0"))
    assert ("scst_portal_node_reachable", never) not in values  # unknown, not healthy


def test_job_outcomes_are_counted(personas, seeded):
    values = samples(scrape(personas["superuser"]))

    def jobs(kind: str, state: str) -> float:
        return values[("scst_portal_jobs", (("kind", kind), ("state", state)))]

    assert (jobs("collect", "succeeded"), jobs("collect", "failed")) == (2, 1)
    assert jobs("plan", "partial") == 1


def test_each_scrape_reads_the_database_afresh(personas, seeded, cluster):
    records.finding(cluster, "CRITICAL", code="NEW_ONE")
    values = samples(scrape(personas["superuser"]))
    key = (("cluster", "store-a"), ("severity", "CRITICAL"))
    assert values[("scst_portal_findings_open", key)] == 3


@pytest.mark.parametrize(
    ("persona", "status"),
    [("viewer", 403), ("operator", 403), ("admin", 403), ("no_membership", 403)],
)
def test_per_cluster_roles_may_not_scrape(personas, seeded, persona, status):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=personas[persona])}")
    assert client.get(URL).status_code == status


def test_without_credentials_the_answer_is_401(db):
    assert APIClient().get(URL, HTTP_ACCEPT="text/plain").status_code == 401
