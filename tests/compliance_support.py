"""What the compliance page shows for a cluster, cross-checked with the stored findings."""

from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from clusters.models import Finding


def findings_on_page(cluster) -> dict[str, list[Finding]]:
    """Open findings by code, after asserting each one is on the compliance page."""
    reader, _ = get_user_model().objects.get_or_create(
        username="page-reader", defaults={"is_superuser": True, "is_staff": True}
    )
    client = Client()
    client.force_login(reader)
    page = client.get(reverse("compliance"), {"cluster": cluster.name}).content.decode()
    found: dict[str, list[Finding]] = {}
    for finding in Finding.objects.filter(cluster=cluster, resolved_at=None):
        assert escape(finding.code) in page, f"{finding.code} is not on the compliance page"
        assert escape(finding.object_ref) in page, f"{finding.object_ref} is not on the page"
        for detail in finding.details:
            assert escape(detail["text"]) in page, f"detail {detail['text']!r} is not shown"
        found.setdefault(finding.code, []).append(finding)
    return found
