"""Findings keep first/last seen, resolve when gone, and a mute ends when it gets worse."""

from datetime import timedelta

from django.utils import timezone

from clusters.compliance import CRITICAL, WARNING, FindingData
from clusters.models import Finding, Mute
from clusters.services.findings import findings_store, mute_create
from tests.factories import make_user


def found(severity: str) -> FindingData:
    return FindingData("SCST_CLUSTER_MODE_OFF", severity, "device:lun0", "cluster_mode")


def test_first_seen_stays_and_last_seen_moves(cluster):
    [first] = findings_store(cluster, [found(WARNING)])
    [again] = findings_store(cluster, [found(WARNING)])
    assert again.pk == first.pk
    assert again.first_seen == first.first_seen and again.last_seen > first.last_seen


def test_a_finding_that_is_gone_is_resolved(cluster):
    [first] = findings_store(cluster, [found(WARNING)])
    findings_store(cluster, [])
    first.refresh_from_db()
    assert first.resolved_at is not None


def test_mute_ends_by_itself_when_the_finding_gets_worse(cluster):
    [finding] = findings_store(cluster, [found(WARNING)])
    mute = mute_create(
        finding, make_user("op"), "DLM arrives next week", timezone.now() + timedelta(days=7)
    )
    findings_store(cluster, [found(WARNING)])
    mute.refresh_from_db()
    assert mute.ended_at is None
    findings_store(cluster, [found(CRITICAL)])
    mute.refresh_from_db()
    assert mute.ended_at is not None
    assert Finding.objects.get(pk=finding.pk).severity == CRITICAL
    assert Mute.objects.filter(ended_at=None).count() == 0
