"""People and access pages: who may give which role, tokens shown once and hashed,
deactivation, the audit of each change, and the styled 403/404 pages."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from clusters.audit import AuditEntry
from clusters.models import ApiToken, Membership, Role
from clusters.services import people
from tests.factories import make_user


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def boss(db):
    return make_user("boss", Role.ADMIN, None)


def test_global_admin_invites_a_user_who_sets_their_own_password(boss, cluster):
    response = client_of(boss).post(reverse("person-add"), {"username": "newbie", "email": ""})
    link = re.search(r'id="invite-link">([^<]+)<', response.content.decode()).group(1)
    newbie = get_user_model().objects.get(username="newbie")
    assert not newbie.has_usable_password()
    assert AuditEntry.objects.filter(object_repr="newbie", action="create").exists()

    anonymous = Client()
    form = anonymous.get(link, follow=True)
    assert b"Set your password" in form.content
    password = "a-long-enough-passphrase-42"
    done = anonymous.post(
        form.redirect_chain[-1][0] if form.redirect_chain else link,
        {"new_password1": password, "new_password2": password},
        follow=True,
    )
    assert b"Your password is set" in done.content
    newbie.refresh_from_db()
    assert newbie.check_password(password)
    assert b"no longer valid" in anonymous.get(link, follow=True).content  # used once


def test_global_admin_creates_a_user_with_a_password(boss):
    response = client_of(boss).post(
        reverse("person-add"), {"username": "direct", "password": "another-long-passphrase-7"}
    )
    user = get_user_model().objects.get(username="direct")
    assert response.status_code == 302 and response["Location"] == f"/people/{user.pk}/"
    assert user.check_password("another-long-passphrase-7")


def test_a_weak_password_is_refused_with_the_reason(boss):
    response = client_of(boss).post(reverse("person-add"), {"username": "weak", "password": "1"})
    assert b"This password is too short" in response.content
    assert not get_user_model().objects.filter(username="weak").exists()


def test_global_admin_gives_and_takes_roles_audited(boss, cluster):
    alice = make_user("alice")
    client = client_of(boss)
    client.post(
        reverse("person-role-grant", args=[alice.pk]), {"cluster": "store-a", "role": "operator"}
    )
    client.post(reverse("person-role-grant", args=[alice.pk]), {"cluster": "*", "role": "viewer"})
    held = {(m.cluster_id, m.role) for m in alice.memberships.all()}
    assert held == {(cluster.pk, "operator"), (None, "viewer")}
    client.post(
        reverse("person-role-grant", args=[alice.pk]), {"cluster": "store-a", "role": "admin"}
    )
    membership = alice.memberships.get(cluster=cluster)
    assert membership.role == "admin"
    client.post(reverse("membership-revoke", args=[membership.pk]))
    assert not alice.memberships.filter(cluster=cluster).exists()
    actions = AuditEntry.objects.filter(object_type="clusters.membership").values_list(
        "action", flat=True
    )
    assert sorted(actions) == ["change", "create", "create", "delete"]
    change = AuditEntry.objects.get(object_type="clusters.membership", action="change")
    assert change.changed_fields() == [("role", "operator", "admin")]
    assert change.cluster_name == "store-a"


def test_cluster_admin_gives_roles_on_their_cluster_only(personas, cluster, other_cluster):
    admin = personas["admin"]
    client = client_of(admin)
    page = client.post(
        reverse("cluster-access", args=[cluster.name]), {"username": "outsider", "role": "viewer"}
    )
    assert page.status_code == 302
    assert Membership.objects.filter(user=personas["no_membership"], cluster=cluster).exists()
    # Another cluster, that they cannot see: not found, never named.
    assert client.get(reverse("cluster-access", args=[other_cluster.name])).status_code == 404
    theirs = Membership.objects.get(user=personas["admin_of_other_cluster"])
    refused = client.post(reverse("membership-revoke", args=[theirs.pk]))
    assert refused.status_code == 404 and b"store-b" not in refused.content
    # Global roles and the people pages are for global admins.
    global_role = Membership.objects.get(user=personas["global_viewer"])
    refused = client.post(reverse("membership-revoke", args=[global_role.pk]))
    assert refused.status_code == 403
    assert b"Admin role on all clusters" in refused.content
    assert client.get(reverse("people-list")).status_code == 403


def test_operator_cannot_give_roles(personas, cluster):
    client = client_of(personas["operator"])
    response = client.get(reverse("cluster-access", args=[cluster.name]))
    assert response.status_code == 403
    assert b"This needs the Admin role on cluster store-a." in response.content
    viewer = Membership.objects.get(user=personas["viewer"])
    assert client.post(reverse("membership-revoke", args=[viewer.pk])).status_code == 403
    assert Membership.objects.filter(pk=viewer.pk).exists()


def test_nobody_takes_away_their_own_admin_role(personas, cluster):
    admin = personas["admin"]
    own = Membership.objects.get(user=admin)
    response = client_of(admin).post(reverse("membership-revoke", args=[own.pk]), follow=True)
    assert b"You cannot take away your own admin role" in response.content
    assert Membership.objects.filter(pk=own.pk).exists()


def test_deactivated_user_cannot_log_in_nor_use_tokens(boss, cluster):
    alice = make_user("alice", Role.VIEWER, cluster)
    _token, key = people.token_create(alice, alice, "script")
    api = Client(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/clusters/").status_code == 200
    client_of(boss).post(reverse("person-active", args=[alice.pk]), {"reason": "left the team"})
    alice.refresh_from_db()
    assert not alice.is_active
    assert api.get("/api/clusters/").status_code == 401
    entry = AuditEntry.objects.get(object_repr="alice", action="change")
    assert entry.changed_fields() == [("is_active", True, False)]
    assert entry.reason == "left the team"
    client_of(boss).post(reverse("person-active", args=[alice.pk]), {"active": "on"})
    alice.refresh_from_db()
    assert alice.is_active


def test_nobody_deactivates_themselves(boss):
    response = client_of(boss).post(reverse("person-active", args=[boss.pk]), follow=True)
    assert b"You cannot deactivate yourself" in response.content
    boss.refresh_from_db()
    assert boss.is_active


def test_token_is_shown_once_stored_hashed_and_revocable(personas, cluster):
    viewer = personas["viewer"]
    client = client_of(viewer)
    response = client.post(reverse("tokens"), {"name": "prometheus"}, follow=True)
    key = re.search(r'id="token-key">([^<]+)<', response.content.decode()).group(1)
    assert key.startswith("sdp_")
    token = ApiToken.objects.get(user=viewer)
    assert key not in str(ApiToken.objects.filter(pk=token.pk).values().first())
    assert key not in client.get(reverse("tokens")).content.decode()  # never again
    entry = AuditEntry.objects.get(object_type="clusters.apitoken", action="create")
    assert "digest" not in entry.after

    api = Client(HTTP_AUTHORIZATION=f"Token {key}")
    assert [c["name"] for c in api.get("/api/clusters/").json()["results"]] == ["store-a"]
    token.refresh_from_db()
    assert token.last_used_at is not None

    client.post(reverse("token-revoke", args=[token.pk]))
    assert api.get("/api/clusters/").status_code == 401
    assert AuditEntry.objects.filter(object_type="clusters.apitoken", action="change").exists()


def test_others_tokens_are_not_found_except_for_global_admins(personas, boss, cluster):
    token, _key = people.token_create(personas["viewer"], personas["viewer"], "theirs")
    url = reverse("token-revoke", args=[token.pk])
    assert client_of(personas["operator"]).post(url).status_code == 404
    assert client_of(boss).post(url).status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_legacy_drf_tokens_still_authenticate(personas, cluster):
    from rest_framework.authtoken.models import Token

    legacy = Token.objects.create(user=personas["viewer"])
    api = Client(HTTP_AUTHORIZATION=f"Token {legacy.key}")
    assert api.get("/api/clusters/").status_code == 200


def test_not_found_page_is_styled_and_names_no_cluster(personas, other_cluster):
    response = client_of(personas["viewer"]).get(f"/clusters/{other_cluster.name}/")
    assert response.status_code == 404
    body = response.content.decode()
    assert 'id="error-page"' in body and "Log out" in body
    assert "hold no role" in body


def test_forbidden_page_says_which_role_on_which_cluster(personas, cluster):
    response = client_of(personas["viewer"]).get(f"/clusters/{cluster.name}/luns/add/")
    assert response.status_code == 403
    body = response.content.decode()
    assert 'id="error-page"' in body
    assert "This needs the Operator role on cluster store-a." in body


def test_api_docs_come_from_vendored_files_and_are_linked(personas):
    client = client_of(personas["viewer"])
    docs = client.get(reverse("api:docs")).content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in docs
    assert "//cdn" not in docs and "unpkg" not in docs
    redoc = client.get(reverse("api:redoc")).content.decode()
    assert "/static/drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js" in redoc
    assert client.get("/api/").headers["Location"] == reverse("api:docs")
    nav = client.get(reverse("cluster-list")).content.decode()
    assert f'href="{reverse("api:docs")}"' in nav and f'href="{reverse("tokens")}"' in nav
