"""Production hardening: deploy checks, login throttling, CSRF on every form, no open
redirects after login."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from clusters.models import Role
from tests.factories import make_user

ROOT = Path(__file__).resolve().parent.parent


def test_production_settings_pass_the_deploy_checks(tmp_path):
    """`manage.py check --deploy` as production runs it: DEBUG off, HTTPS on, a real key."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "PORTAL_", "DEBUG", "SECRET_KEY"))
    }
    env |= {
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "0",
        "PORTAL_HTTPS": "1",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "PORTAL_SECRETS_KEY": secrets.token_urlsafe(32),
        "PORTAL_VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


# --- Login throttling (django-axes) ---------------------------------------------------


def login(client: Client, username: str, password: str, ip: str = "192.0.2.10"):
    data = {"username": username, "password": password}
    return client.post(reverse("login"), data, REMOTE_ADDR=ip)


def test_repeated_wrong_passwords_lock_the_login_from_that_address(client, cluster):
    make_user("alice", Role.VIEWER, cluster)
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login(client, "alice", "guess").status_code == 200  # the form, with an error
    assert login(client, "alice", "guess").status_code == 429  # the limit-th failure locks
    locked = login(client, "alice", "pw-alice")
    assert locked.status_code == 429
    assert "locked" in locked.content.decode().lower()
    assert "_auth_user_id" not in client.session
    # The real user at their own desk is not locked out by someone else's guessing.
    assert login(Client(), "alice", "pw-alice", ip="192.0.2.99").status_code == 302


def test_a_success_before_the_limit_resets_the_count(client, cluster):
    make_user("bob", Role.VIEWER, cluster)
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        login(client, "bob", "guess")
    assert login(client, "bob", "pw-bob").status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        login(client, "bob", "guess")
    assert login(client, "bob", "pw-bob").status_code == 302


def test_the_admin_login_is_throttled_too(client, db):
    make_user("root", is_superuser=True, is_staff=True)
    url = reverse("admin:login")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(url, {"username": "root", "password": "guess"}, REMOTE_ADDR="192.0.2.5")
    response = client.post(
        url, {"username": "root", "password": "pw-root"}, REMOTE_ADDR="192.0.2.5"
    )
    assert response.status_code == 429


def test_force_login_still_works_for_tests(client, cluster):
    client.force_login(make_user("v", Role.VIEWER, cluster))
    assert client.get(reverse("cluster-list")).status_code == 200


# --- CSRF -------------------------------------------------------------------------------


def post_forms(template: str) -> list[str]:
    return re.findall(r"<form\b[^>]*method=\"post\".*?</form>", template, re.S | re.I)


def test_every_post_form_in_the_templates_carries_the_csrf_token():
    templates = sorted((ROOT / "templates").rglob("*.html"))
    forms = {path: post_forms(path.read_text()) for path in templates}
    missing = [
        str(path.relative_to(ROOT))
        for path, found in forms.items()
        for form in found
        if "{% csrf_token %}" not in form
    ]
    assert sum(len(found) for found in forms.values()) >= 3  # the scan sees real forms
    assert missing == []


def test_htmx_requests_send_the_csrf_token_from_base_html():
    base = (ROOT / "templates" / "base.html").read_text()
    assert """hx-headers='{"X-CSRFToken": "{{ csrf_token }}"}'""" in base


@pytest.fixture
def csrf_client(personas):
    client = Client(enforce_csrf_checks=True)
    client.force_login(personas["superuser"])
    return client


def post_targets(cluster) -> list[str]:
    from tests.test_access_matrix import SAMPLE_OBJECTS

    node = cluster.nodes.order_by("name").first()
    return [
        reverse("cluster-collect", args=[cluster.name]),
        reverse("host-key-approve", args=[cluster.name, node.name]),
        reverse("finding-mute", args=[SAMPLE_OBJECTS["finding_id"](cluster)]),
        reverse("logout"),
        reverse("admin:clusters_cluster_add"),
    ]


def test_posts_without_the_csrf_token_are_refused(csrf_client, cluster):
    from clusters.models import Job, Mute

    before = (Job.objects.count(), Mute.objects.count())
    for url in post_targets(cluster):
        response = csrf_client.post(url, {"reason": "x", "name": "evil"})
        assert response.status_code == 403, url
    assert (Job.objects.count(), Mute.objects.count()) == before


def test_login_without_the_csrf_token_is_refused(cluster):
    make_user("alice", Role.VIEWER, cluster)
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("login"), {"username": "alice", "password": "pw-alice"})
    assert response.status_code == 403


# --- Redirects after login --------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/", "/\\evil.example/", "https:evil.example"],
)
def test_login_never_redirects_off_site(client, cluster, target):
    make_user("alice", Role.VIEWER, cluster)
    response = client.post(
        reverse("login") + f"?next={target}",
        {"username": "alice", "password": "pw-alice", "next": target},
    )
    assert response.status_code == 302
    assert "evil.example" not in response.headers["Location"]


def test_login_follows_a_local_next(client, cluster):
    make_user("alice", Role.VIEWER, cluster)
    target = reverse("compliance")
    response = client.post(
        reverse("login"), {"username": "alice", "password": "pw-alice", "next": target}
    )
    assert response.headers["Location"] == target


def test_security_headers_on_every_page(client, cluster):
    client.force_login(make_user("v", Role.VIEWER, cluster))
    response = client.get(reverse("cluster-list"))
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_axes_records_at_most_a_user_name_without_nul(client, db):
    """A 100,000-character or NUL-laden user name must not reach axes' varchar(255):
    PostgreSQL refuses it and the login page would answer 500."""
    from axes.models import AccessAttempt

    for username in ("A" * 100_000, "ro\x00ot"):
        assert login(client, username, "guess").status_code == 200
    stored = list(AccessAttempt.objects.values_list("username", flat=True))
    assert "A" * 150 in stored
    assert all(len(name or "") <= 150 and "\x00" not in (name or "") for name in stored)
