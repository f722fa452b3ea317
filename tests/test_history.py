"""History: counters recorded at each collection from the lab's real outputs, kept for
HISTORY_RETENTION_DAYS, and drawn as SVG with one line per node."""

import time
from datetime import UTC, datetime, timedelta

from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from clusters import charts
from clusters.compliance.catalogue import FindingData
from clusters.models import Sample
from clusters.services import collection, history
from clusters.services.findings import findings_store
from lab import api
from tests.factories import make_user

VMWARE = "iqn.1998-01.com.vmware:esx01-1a2b3c4d"


def collect(cluster):
    return collection.collection_run(collection.collection_create(cluster))


def test_collection_records_io_per_lun_node_and_session(lab, lab_cluster):
    for suffix in "ab":
        api.add_session(lab.dir, f"{lab_cluster.name}-{suffix}", VMWARE, io_rate_kb=4096)
    collect(lab_cluster)
    time.sleep(1.1)  # the lab's counters rise with time, as real ones do under I/O
    collect(lab_cluster)

    writes = Sample.objects.filter(cluster=lab_cluster, series=history.WRITES)
    assert {s.node.name for s in writes} == {f"{lab_cluster.name}-a", f"{lab_cluster.name}-b"}
    assert {s.key for s in writes} >= {f"r0|{VMWARE}"}
    durations = Sample.objects.filter(cluster=lab_cluster, series=history.COLLECT_SECONDS)
    assert durations.count() >= 4 and all(s.value > 0 for s in durations)

    chart = history.lun_chart(lab_cluster, "r0", history.WRITES, timezone.now() - timedelta(1))
    assert [line.name for line in chart.lines] == [
        f"{lab_cluster.name}-a",
        f"{lab_cluster.name}-b",
    ]  # writes through both nodes: the round robin, at a glance
    assert all(line.dots for line in chart.lines)


def test_drbd_out_of_sync_and_resync_progress_are_recorded(lab, lab_cluster):
    node = f"{lab_cluster.name}-a"
    api.split_brain(lab.dir, node, "r0", oos_kib=4096)
    collect(lab_cluster)
    api.heal(lab.dir, node, "r0")
    collect(lab_cluster)

    oos = Sample.objects.filter(cluster=lab_cluster, series=history.OUT_OF_SYNC, node__name=node)
    assert [s.value for s in oos.filter(key="r0/0")][-2:] == [4096, 0]
    in_sync = Sample.objects.filter(cluster=lab_cluster, series=history.IN_SYNC, key="r0/0")
    values = [s.value for s in in_sync.filter(node__name=node)]
    assert values[-2] < 100 and values[-1] == 100
    drawn = history.resync_charts(lab_cluster, timezone.now() - timedelta(days=1))
    assert [c.title for c in drawn] == ["DRBD out of sync", "DRBD resync progress (in sync)"]
    assert all(not c.empty for c in drawn)


def test_findings_are_counted_by_severity(cluster):
    found = FindingData("DRBD_FENCING", "WARNING", "drbd:r0", "fencing off")
    findings_store(cluster, [found])
    counts = {
        s.key: s.value for s in Sample.objects.filter(cluster=cluster, series="findings_open")
    }
    assert counts == {"CRITICAL": 0, "WARNING": 1, "INFO": 0}
    chart = history.findings_chart(cluster, timezone.now() - timedelta(days=30))
    assert [line.name for line in chart.lines] == ["CRITICAL", "WARNING", "INFO"]


def test_samples_older_than_the_retention_are_pruned(cluster, settings):
    settings.HISTORY_RETENTION_DAYS = 7
    now = timezone.now()
    for age in (1, 6, 8, 30):
        Sample.objects.create(
            cluster=cluster, series=history.COLLECT_SECONDS, at=now - timedelta(days=age), value=1
        )
    call_command("history_prune")
    assert Sample.objects.count() == 2


def test_history_never_fails_a_collection(lab_cluster, monkeypatch):
    def broken(snapshot, facts):
        raise ValueError("cannot parse")

    monkeypatch.setattr(history, "snapshot_samples", broken)
    job = collect(lab_cluster)
    assert job.state == "succeeded"


def test_counter_as_rate_per_minute_counts_a_reset_from_zero():
    t = datetime(2026, 1, 1, tzinfo=UTC)
    points = [(t, 100.0), (t + timedelta(minutes=1), 160.0), (t + timedelta(minutes=3), 40.0)]
    assert history.per_minute(points) == [
        (t + timedelta(minutes=1), 60.0),
        (t + timedelta(minutes=3), 20.0),
    ]


def test_chart_geometry_fits_the_canvas():
    t = datetime(2026, 1, 1, tzinfo=UTC)
    series = [
        charts.Series("a", [(t, 0.0), (t + timedelta(hours=1), 50.0)]),
        charts.Series("b", [(t + timedelta(minutes=30), 120.0)]),
    ]
    chart = charts.line_chart("c", series, "x")
    box = chart.plot
    for line in chart.lines:
        for dot in line.dots:
            assert box["left"] <= dot.x <= box["right"] and box["top"] <= dot.y <= box["bottom"]
    assert chart.lines[0].dots[0].y == box["bottom"]  # 0 sits on the axis
    assert chart.y_ticks[-1].label == "200"  # a round top above the largest value
    assert charts.line_chart("empty", [], "x").empty


def test_history_pages_draw_svg_with_points(personas, cluster):
    now = timezone.now()
    node = cluster.nodes.order_by("name").first()
    for minute, value in enumerate((0, 600, 1500)):
        Sample.objects.create(
            cluster=cluster,
            node=node,
            series=history.WRITES,
            key="lun0|iqn.x",
            at=now - timedelta(minutes=10 - minute),
            value=value,
        )
    client = Client()
    client.force_login(personas["viewer"])
    page = client.get(reverse("lun-history", args=[cluster.name, "lun0"])).content.decode()
    assert page.count("<circle") == 2  # two intervals between three readings
    assert "<polyline" in page and f"{node.name} " in page
    page = client.get(reverse("cluster-history", args=[cluster.name]) + "?days=7").content
    assert b"Open findings per day" in page
    assert reverse("lun-history", args=[cluster.name, "lun0"]).encode() in page


def test_unknown_lun_is_not_found(personas, cluster):
    client = Client()
    client.force_login(make_user("v2", "viewer", cluster))
    assert client.get(reverse("lun-history", args=[cluster.name, "nope"])).status_code == 404
