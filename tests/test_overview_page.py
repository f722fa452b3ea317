"""The cluster overview: one row per cluster, its status the worst unmuted finding, and
UNKNOWN whenever the data is missing, unreachable or stale."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clusters.models import Finding, Role
from tests import records
from tests.factories import make_cluster, make_user


def row_of(page: str, cluster_name: str) -> str:
    match = re.search(rf'<tr id="cluster-{cluster_name}".*?</tr>', page, re.S)
    assert match, f"no row for {cluster_name}"
    return match.group(0)


def status_of(page: str, cluster_name: str) -> str:
    return re.search(r'<span class="badge (\w+)">(\w+)</span>', row_of(page, cluster_name))[2]


@pytest.fixture
def overview(client, cluster):
    client.force_login(make_user("v", Role.VIEWER, cluster))
    return lambda: client.get(reverse("cluster-list")).content.decode()


def test_fresh_data_without_findings_is_ok(overview, cluster):
    records.collected(cluster)
    assert status_of(overview(), cluster.name) == "OK"


def test_critical_finding_makes_the_cluster_critical(overview, cluster):
    records.collected(cluster)
    records.finding(cluster, "WARNING", code="A")
    records.finding(cluster, "CRITICAL", code="B")
    page = overview()
    assert status_of(page, cluster.name) == "CRITICAL"
    counts = re.findall(r'<td class="num">(?:<a [^>]*>)?(\d+)', row_of(page, cluster.name))
    assert counts == ["1", "1", "0"]


def test_warning_only_is_warning(overview, cluster):
    records.collected(cluster)
    records.finding(cluster, "WARNING")
    assert status_of(overview(), cluster.name) == "WARNING"


def test_never_collected_cluster_is_unknown(overview, cluster):
    page = overview()
    assert status_of(page, cluster.name) == "UNKNOWN"
    assert "never collected" in row_of(page, cluster.name)


def test_stale_data_is_unknown_never_ok(overview, cluster, settings):
    settings.COLLECT_INTERVAL_SECONDS = 60
    records.collected(cluster, age=3 * 60 + 5)
    page = overview()
    assert status_of(page, cluster.name) == "UNKNOWN"
    assert "data is stale" in row_of(page, cluster.name)


def test_data_younger_than_three_intervals_is_fresh(overview, cluster, settings):
    settings.COLLECT_INTERVAL_SECONDS = 60
    records.collected(cluster, age=3 * 60 - 10)
    assert status_of(overview(), cluster.name) == "OK"


def test_one_unreachable_node_makes_the_cluster_unknown(overview, cluster):
    first, second = cluster.nodes.order_by("name")
    records.snapshot(first)
    records.snapshot(second, age=120)
    records.snapshot(second, reachable=False)
    page = overview()
    assert status_of(page, cluster.name) == "UNKNOWN"
    assert "1 / 2" in row_of(page, cluster.name)
    assert "1 of 2 nodes unreachable" in row_of(page, cluster.name)


def test_an_unreachable_node_says_when_its_host_key_awaits_approval(overview, cluster):
    first, second = cluster.nodes.order_by("name")
    type(first).objects.filter(pk=first.pk).update(host_key="ssh-ed25519 AAAA pinned")
    for node in (first, second):
        records.snapshot(node, reachable=False)
    row = row_of(overview(), cluster.name)
    assert "2 of 2 nodes unreachable (1 host key awaits approval)" in row


def test_only_the_latest_snapshot_of_a_node_counts(overview, cluster):
    first, second = cluster.nodes.order_by("name")
    records.snapshot(first)
    records.snapshot(second, age=60, reachable=False)
    records.snapshot(second)
    page = overview()
    assert status_of(page, cluster.name) == "OK"
    assert "2 / 2" in row_of(page, cluster.name)


def test_a_known_critical_finding_outranks_unknown(overview, cluster):
    records.finding(cluster, "CRITICAL")
    assert status_of(overview(), cluster.name) == "CRITICAL"


def test_muted_findings_do_not_count(overview, cluster):
    records.collected(cluster)
    found = records.finding(cluster, "CRITICAL")
    records.mute(found, make_user("op", Role.OPERATOR, cluster))
    page = overview()
    assert status_of(page, cluster.name) == "OK"


def test_an_expired_mute_no_longer_hides_the_finding(overview, cluster):
    records.collected(cluster)
    found = records.finding(cluster, "CRITICAL")
    records.mute(found, make_user("op", Role.OPERATOR, cluster), days=-1)
    assert status_of(overview(), cluster.name) == "CRITICAL"


def test_a_mute_of_another_object_does_not_hide_the_finding(overview, cluster):
    records.collected(cluster)
    found = records.finding(cluster, "CRITICAL", object_ref="device:lun0")
    elsewhere = Finding(cluster=cluster, code=found.code, object_ref="device:lun1")
    records.mute(elsewhere, make_user("op", Role.OPERATOR, cluster))
    assert status_of(overview(), cluster.name) == "CRITICAL"


def test_resolved_findings_do_not_count(overview, cluster):
    records.collected(cluster)
    records.finding(cluster, "CRITICAL", resolved=True)
    assert status_of(overview(), cluster.name) == "OK"


def test_each_cluster_gets_its_own_status(client, cluster, other_cluster):
    client.force_login(make_user("g", Role.VIEWER, None))
    records.collected(cluster)
    records.collected(other_cluster)
    records.finding(other_cluster, "CRITICAL")
    page = client.get(reverse("cluster-list")).content.decode()
    assert status_of(page, cluster.name) == "OK"
    assert status_of(page, other_cluster.name) == "CRITICAL"


def test_htmx_poll_gets_only_the_table(overview, client, cluster):
    records.collected(cluster)
    response = client.get(reverse("cluster-list"), headers={"HX-Request": "true"})
    fragment = response.content.decode()
    assert "<html" not in fragment
    assert fragment.lstrip().startswith('<div id="cluster-table"')
    assert 'hx-trigger="every 10s"' in fragment
    assert cluster.name in fragment


def test_full_page_polls_the_table_every_ten_seconds(overview):
    page = overview()
    assert "<html" in page
    assert 'hx-get="/clusters/" hx-trigger="every 10s"' in page


def test_query_count_does_not_grow_with_the_number_of_clusters(
    db, client, django_assert_max_num_queries
):
    client.force_login(make_user("g", Role.VIEWER, None))
    url = reverse("cluster-list")

    def populate(names):
        for name in names:
            cluster = records.collected(make_cluster(name))
            records.finding(cluster, "WARNING")

    populate(["c0", "c1"])
    with CaptureQueriesContext(connection) as two:
        assert client.get(url).status_code == 200
    # 9: the clusters, their nodes' export summaries (LUNs, size, sessions), the rest fixed
    assert len(two) <= 9, [q["sql"] for q in two.captured_queries]
    populate([f"c{i}" for i in range(2, 12)])
    with django_assert_max_num_queries(len(two)):
        page = client.get(url).content.decode()
    assert page.count('<tr id="cluster-') == 12


def test_the_overview_is_paginated_worst_first(client, settings, db):
    from clusters.models import Cluster
    from tests.factories import make_user

    settings.PAGE_SIZE = 2
    for i in range(5):
        Cluster.objects.create(name=f"p{i}")
    client.force_login(make_user("root", is_superuser=True, is_staff=True))
    first = client.get("/clusters/").content.decode()
    assert "clusters 1–2 of 5, worst first" in first
    last = client.get("/clusters/?page=3").content.decode()
    assert "clusters 5–5 of 5" in last and last.count('<tr id="cluster-') == 1
