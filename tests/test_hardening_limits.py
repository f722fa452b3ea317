"""Hardening and bounds (issue 13): a Content-Security-Policy without inline script, var/
and the SQLite file private, a strong PORTAL_SECRETS_KEY or no start, API tokens that
expire, snapshot retention, and findings whose size does not depend on what a node sends."""

import os
import re
import secrets
import stat
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from clusters.compliance.catalogue import Detail, FindingData
from clusters.models import Finding, NodeSnapshot, Role
from clusters.services import findings as finding_services
from clusters.services import retention
from tests.factories import make_user

ROOT = Path(__file__).resolve().parent.parent


def manage(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "PORTAL_", "SECRET_KEY", "DATABASE_URL"))
    }
    clean |= {
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "PORTAL_SECRETS_KEY": secrets.token_urlsafe(48),
        "PORTAL_VAR_DIR": str(tmp_path / "var"),
        "PORTAL_DEMO": "1",
        **env,
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_pages_carry_a_content_security_policy_without_inline_script(client, cluster):
    client.force_login(make_user("v", Role.VIEWER, cluster))
    policy = client.get(reverse("cluster-list")).headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy


def test_no_template_has_an_inline_script():
    for template in (ROOT / "templates").rglob("*.html"):
        text = template.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag, f"{template}: inline script {tag}"
        assert not re.search(r"\son[a-z]+=", text), f"{template}: inline event handler"


@pytest.mark.parametrize("key", ["abc", "a" * 64, "short-but-varied-123"])
def test_a_weak_secrets_key_is_refused_at_start(tmp_path, key):
    result = manage(tmp_path, "check", PORTAL_SECRETS_KEY=key)
    assert result.returncode != 0
    assert "PORTAL_SECRETS_KEY key 1 is too weak" in result.stderr


def test_every_key_of_a_rotation_list_must_be_strong(tmp_path):
    result = manage(tmp_path, "check", PORTAL_SECRETS_KEY=secrets.token_urlsafe(48) + ",old")
    assert "PORTAL_SECRETS_KEY key 2 is too weak" in result.stderr


def test_var_and_the_sqlite_file_are_private(tmp_path):
    result = manage(tmp_path, "migrate", "--noinput", "-v", "0")
    assert result.returncode == 0, result.stderr
    var = tmp_path / "var"
    assert stat.S_IMODE(var.stat().st_mode) == 0o700
    assert stat.S_IMODE((var / "portal.sqlite3").stat().st_mode) == 0o600


def test_an_expired_api_token_is_refused(cluster, settings):
    settings.API_TOKEN_MAX_AGE_DAYS = 30
    user = make_user("v", Role.VIEWER, cluster)
    token = Token.objects.create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    url = reverse("api:cluster-list")
    assert client.get(url).status_code == 200
    Token.objects.filter(pk=token.pk).update(created=timezone.now() - timedelta(days=31))
    response = client.get(url)
    assert response.status_code == 401
    assert "Token expired" in response.json()["detail"]
    settings.API_TOKEN_MAX_AGE_DAYS = 0  # 0: tokens never expire
    assert client.get(url).status_code == 200


def test_retention_keeps_the_newest_and_one_per_day(cluster, settings):
    settings.SNAPSHOT_KEEP_PER_NODE = 3
    settings.SNAPSHOT_KEEP_DAILY_DAYS = 5
    node = cluster.nodes.first()
    now = timezone.now().replace(hour=12)
    made = [
        NodeSnapshot.objects.create(
            node=node, collected_at=now - timedelta(hours=hours), reachable=True
        )
        for hours in range(0, 24 * 8, 6)  # 4 a day for 8 days
    ]
    deleted = retention.snapshots_prune(now=now)
    kept = list(NodeSnapshot.objects.filter(node=node).order_by("-collected_at"))
    assert deleted == len(made) - len(kept)
    assert kept[:3] == made[:3]  # the newest three
    days = {s.collected_at.date() for s in kept}
    assert len(days) == len(
        {s.collected_at.date() for s in made if s.collected_at >= now - timedelta(days=5)}
    )
    assert all(s.collected_at >= now - timedelta(days=5) for s in kept)


def test_the_prune_command_says_what_it_deleted(cluster, settings):
    settings.SNAPSHOT_KEEP_PER_NODE = 1
    node = cluster.nodes.first()
    for minutes in range(3):
        NodeSnapshot.objects.create(
            node=node, collected_at=timezone.now() - timedelta(minutes=minutes), reachable=True
        )
    out = StringIO()
    call_command("prune_snapshots", stdout=out)
    assert "Deleted 2 snapshot(s)." in out.getvalue()


def test_beat_prunes_snapshots_hourly(settings):
    assert settings.CELERY_BEAT_SCHEDULE["prune-snapshots"]["task"] == "clusters.snapshots_prune"
    from clusters.retention import snapshots_prune

    assert snapshots_prune.name == "clusters.snapshots_prune"


def test_evidence_is_stored_truncated_and_without_nul(cluster, settings):
    settings.FINDING_EVIDENCE_MAX_CHARS = 100
    settings.FINDING_MAX_DETAILS = 5
    huge = "x" * 25_000_000
    details = [Detail(f"line {i} \x00", huge, "n1") for i in range(50)]
    item = FindingData("SCST_NV_CACHE_ON", "CRITICAL", "device:lun0", "t", details)
    finding_services.findings_store(cluster, [item])
    stored = Finding.objects.get(cluster=cluster).details
    assert len(stored) == 6 and stored[-1]["text"] == "… and 45 more lines"
    assert stored[0]["text"] == "line 0 \\x00"
    assert stored[0]["evidence"].startswith("x" * 100 + "… [truncated: 25000000 characters]")


def test_the_compliance_page_is_paginated_and_small(client, cluster, settings):
    settings.FINDING_EVIDENCE_MAX_CHARS = 2000
    found = [
        FindingData(
            "DRIFT_SCST",
            "WARNING",
            f"device:lun{i}",
            "t",
            [Detail("x" * 100_000, "y" * 100_000, "n1")],
        )
        for i in range(400)
    ]
    finding_services.findings_store(cluster, found)
    client.force_login(make_user("v", Role.VIEWER, cluster))
    page = client.get(reverse("compliance")).content.decode()
    assert len(page) < 1_000_000
    assert "400 open findings" in page and "page 1 of 8" in page
    second = client.get(reverse("compliance") + "?page=2").content.decode()
    assert "device:lun50" in second or "page 2 of 8" in second
    detail = client.get(reverse("cluster-detail", args=[cluster.name])).content.decode()
    assert len(detail) < 1_000_000
    assert "The worst 50 of 400 open findings" in detail
