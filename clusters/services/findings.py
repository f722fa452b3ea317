"""Findings: evaluate compliance over the latest snapshots, keep first/last seen, mutes."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from clusters import audit
from clusters.models import SEVERITY_RANK, Cluster, Finding, Mute, Severity


def findings_refresh(cluster: Cluster) -> list[Finding]:
    """Re-evaluate the cluster's rules on its latest snapshots and store the outcome."""
    from clusters.compliance import evaluate
    from clusters.services.facts import cluster_facts

    found = evaluate(cluster_facts(cluster))
    return findings_store(cluster, found)


@transaction.atomic
def findings_collection_failed(cluster: Cluster, reason: str) -> Finding:
    """The cluster could not be collected or evaluated: open (or update) its
    COLLECTION_INCOMPLETE finding and leave its other findings as last evaluated; the
    next complete evaluation resolves it."""
    from clusters.compliance.catalogue import CATALOGUE, Detail

    item = CATALOGUE["COLLECTION_INCOMPLETE"].finding(
        f"cluster:{cluster.name}",
        Detail(
            "The cluster's collection or evaluation failed; the findings shown are "
            "from its last complete evaluation.",
            reason[:2000],
        ),
    )
    now = timezone.now()
    finding, _ = Finding.objects.select_for_update().get_or_create(
        cluster=cluster,
        code=item.code,
        object_ref=item.object_ref,
        resolved_at=None,
        defaults={"first_seen": now, "last_seen": now, "severity": item.severity},
    )
    finding.severity, finding.title = item.severity, item.title
    finding.details, finding.last_seen = item.details_json(), now
    finding.save()
    return finding


@transaction.atomic
def findings_store(cluster: Cluster, found: list) -> list[Finding]:
    """Open new findings, update the ones still present, resolve the ones gone.

    A mute ends by itself when its finding gets worse than it was when muted.
    """
    now = timezone.now()
    open_findings = {
        (f.code, f.object_ref): f
        for f in Finding.objects.select_for_update().filter(cluster=cluster, resolved_at=None)
    }
    kept = []
    for item in found:
        finding = open_findings.pop((item.code, item.object_ref), None)
        if finding is None:
            finding = Finding(
                cluster=cluster, code=item.code, object_ref=item.object_ref, first_seen=now
            )
        finding.severity, finding.title = item.severity, item.title
        finding.details, finding.last_seen = item.details_json(), now
        finding.save()
        kept.append(finding)
        _end_mutes_if_worse(cluster, finding, now)
    for gone in open_findings.values():
        gone.resolved_at = now
        gone.save(update_fields=["resolved_at"])
    return kept


def _end_mutes_if_worse(cluster: Cluster, finding: Finding, now: datetime) -> None:
    for mute in active_mutes(cluster).filter(code=finding.code, object_ref=finding.object_ref):
        if (
            SEVERITY_RANK[Severity(finding.severity)]
            > SEVERITY_RANK[Severity(mute.severity_at_mute)]
        ):
            mute.ended_at = now
            mute.save(update_fields=["ended_at"])


def active_mutes(cluster: Cluster):
    return Mute.objects.filter(cluster=cluster, ended_at=None, until__gt=timezone.now())


@transaction.atomic
def mute_create(finding: Finding, user, reason: str, until: datetime) -> Mute:
    """Accept one finding code on one object until `until`; a reason is required."""
    if not reason.strip():
        raise ValueError("A reason is required to mute a finding.")
    if until <= timezone.now():
        raise ValueError("The mute must end in the future.")
    mute = Mute.objects.create(
        cluster=finding.cluster,
        code=finding.code,
        object_ref=finding.object_ref,
        severity_at_mute=finding.severity,
        reason=reason.strip(),
        created_by=user,
        until=until,
    )
    audit.record(user, audit.Action.MUTE, mute, after=audit.snapshot(mute), reason=mute.reason)
    return mute
