"""Every form posted with hostile values: shell metacharacters, very long strings, NUL,
unicode, HTML, numbers beyond 64 bits. The portal must answer with an error message,
never a server error, and change nothing."""

from datetime import timedelta

import asyncssh
import pytest
from django.contrib.admin.sites import site as admin_site
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from clusters import models
from clusters.audit import AuditEntry
from tests import records
from tests.factories import make_user

HOSTILE = {
    "shell": "x; rm -rf / #",
    "substitution": "$(reboot)`id`",
    "pipes": "a|b&&c>/etc/passwd",
    "option": "-oProxyCommand=touch /tmp/pwned",
    "newlines": "name\nrm -rf /\r\n",
    "nul": "lun\x000",
    "long": "A" * 100_000,
    "long_digits": "9" * 5_000,
    "huge_number": "99999999999999999999999999",
    "negative": "-1",
    "unicode": "ünïcødé ☃ 𝕏 \u202etxt.exe",
    "html": '<script>alert(1)</script><img src=x onerror="alert(2)">',
    "path": "../../../../etc/shadow",
}

INVENTORY = [
    models.Cluster,
    models.Node,
    models.SshCredential,
    models.DrbdResource,
    models.DrbdVolume,
    models.ScstDevice,
    models.Target,
    models.InitiatorGroup,
    models.Initiator,
    models.LunMapping,
    models.Membership,
    models.Mute,
]


def database_state() -> dict:
    """Every row of every model a form could touch, plus the audit trail's size."""
    state: dict[str, object] = {
        model.__name__: list(model._default_manager.order_by("pk").values()) for model in INVENTORY
    }
    state["audit"] = AuditEntry.objects.count()
    return state


@pytest.fixture
def superuser(db):
    return make_user("root", is_superuser=True, is_staff=True)


@pytest.fixture
def root_client(superuser) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


def admin_form_data(model, superuser, value: str) -> dict:
    """Every field of the model's admin form set to `value`, inlines present but empty."""
    request = RequestFactory().get("/")
    request.user = superuser
    model_admin = admin_site._registry[model]
    data = {name: value for name in model_admin.get_form(request).base_fields}
    for inline in model_admin.get_inline_instances(request):
        prefix = inline.get_formset(request).get_default_prefix()
        data |= {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}
    return data


def admin_models() -> list:
    # Mutes are made on the compliance page; the admin only shows them.
    return [m for m in INVENTORY if m in admin_site._registry and m is not models.Mute]


def assert_refused(response, marker: str) -> None:
    assert response.status_code < 500
    assert response.status_code == 200, response.status_code
    assert marker in response.content.decode()


@pytest.mark.parametrize("model", admin_models(), ids=lambda m: m.__name__)
def test_admin_add_forms_refuse_hostile_values(root_client, superuser, cluster, model):
    url = reverse(f"admin:clusters_{model._meta.model_name}_add")
    before = database_state()
    for kind, value in HOSTILE.items():
        response = root_client.post(url, admin_form_data(model, superuser, value))
        assert_refused(response, 'class="errornote"')
        assert database_state() == before, kind


@pytest.mark.parametrize("model", admin_models(), ids=lambda m: m.__name__)
def test_admin_change_forms_refuse_hostile_values(root_client, superuser, cluster, model):
    # One object of every kind exists: the cluster's inventory, and these.
    make_user("viewer", models.Role.VIEWER, cluster)
    mute_of(cluster, superuser)
    credential_of(cluster)
    obj = model.objects.order_by("pk").first()
    url = reverse(f"admin:clusters_{model._meta.model_name}_change", args=[obj.pk])
    before = database_state()
    for kind, value in HOSTILE.items():
        response = root_client.post(url, admin_form_data(model, superuser, value))
        assert_refused(response, 'class="errornote"')
        assert database_state() == before, kind


def mute_of(cluster, user) -> models.Mute:
    return models.Mute.objects.create(
        cluster=cluster,
        code="X",
        object_ref="device:lun0",
        severity_at_mute="INFO",
        reason="r",
        created_by=user,
        until=timezone.now() + timedelta(days=1),
    )


def credential_of(cluster) -> models.SshCredential:
    credential = models.SshCredential(name="lab-key")
    key = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    credential.set_private_key(key)
    credential.save()
    return credential


@pytest.mark.parametrize("kind", HOSTILE)
def test_the_mute_form_refuses_hostile_values(client, cluster, kind):
    client.force_login(make_user("op", models.Role.OPERATOR, cluster))
    finding = records.finding(cluster)
    before = database_state()
    value = HOSTILE[kind]
    response = client.post(
        reverse("finding-mute", args=[finding.pk]), {"reason": value, "until": value}
    )
    assert_refused(response, "errorlist")
    assert database_state() == before


def test_a_hostile_mute_reason_is_shown_as_text(client, cluster):
    """Free text is free: a valid mute keeps the reason verbatim and the page escapes it."""
    client.force_login(make_user("op", models.Role.OPERATOR, cluster))
    finding = records.finding(cluster)
    client.post(
        reverse("finding-mute", args=[finding.pk]),
        {"reason": HOSTILE["html"], "until": "2999-01-01T00:00"},
    )
    assert models.Mute.objects.get().reason == HOSTILE["html"]
    page = client.get(reverse("compliance")).content.decode()
    assert "<script>alert(1)</script>" not in page


@pytest.mark.parametrize("kind", HOSTILE)
def test_host_key_approval_refuses_hostile_values(client, cluster, kind):
    node = cluster.nodes.order_by("name").first()
    node.pending_host_key = asyncssh.generate_private_key("ssh-ed25519").export_public_key()
    node.pending_host_key = node.pending_host_key.decode().strip()
    node.save()
    client.force_login(make_user("a", models.Role.ADMIN, cluster))
    before = database_state()
    value = HOSTILE[kind]
    url = reverse("host-key-approve", args=[cluster.name, node.name])
    response = client.post(url, {"fingerprint": value, "reason": value})
    assert_refused(response, "errorlist")
    assert database_state() == before
    node.refresh_from_db()
    assert node.host_key == ""


@pytest.mark.parametrize("kind", HOSTILE)
@pytest.mark.parametrize("url_name", ["login", "admin:login"])
def test_login_forms_refuse_hostile_values(client, cluster, kind, url_name):
    make_user("alice", models.Role.VIEWER, cluster)
    value = HOSTILE[kind]
    response = client.post(reverse(url_name), {"username": value, "password": value})
    assert_refused(response, "errornote" if url_name == "admin:login" else 'class="error"')
    assert "_auth_user_id" not in client.session
