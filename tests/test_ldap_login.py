"""LDAP login against a real slapd: directory groups become the portal's roles, local
accounts keep working and are never taken over from the directory."""

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.urls import reverse

from clusters.audit import AuditEntry
from clusters.models import LdapAccount, Membership, Role
from portal.ldap_settings import ldap_settings, parse_role_map
from tests.factories import make_user


def log_in(username: str, password: str) -> Client:
    client = Client()
    client.post(reverse("login"), {"username": username, "password": password})
    return client


def roles(username: str) -> set[tuple[str | None, str, str]]:
    held = Membership.objects.filter(user__username=username).select_related("cluster")
    return {(m.cluster.name if m.cluster else None, m.role, m.source) for m in held}


def logged_in(client: Client) -> bool:
    return client.get(reverse("cluster-list")).status_code == 200


def test_directory_admin_group_gives_admin_on_all_clusters(ldap_directory, cluster):
    client = log_in("alice", "ldap-alice")
    assert logged_in(client)
    assert roles("alice") == {(None, Role.ADMIN, "ldap")}
    alice = get_user_model().objects.get(username="alice")
    assert (alice.first_name, alice.last_name, alice.email) == (
        "Alice",
        "Admin",
        "alice@example.org",
    )
    assert not alice.has_usable_password()  # the password stays in the directory
    account = LdapAccount.objects.get(user=alice)
    assert account.dn == "uid=alice,ou=people,dc=example,dc=org"
    entry = AuditEntry.objects.get(object_type="clusters.membership", username="alice")
    assert entry.reason == f"LDAP groups of {account.dn}"
    assert client.get(reverse("people-list")).status_code == 200


def test_cluster_groups_give_the_highest_role_on_that_cluster(ldap_directory, cluster):
    assert logged_in(log_in("bob", "ldap-bob"))
    assert roles("bob") == {("store-a", Role.OPERATOR, "ldap")}


def test_roles_follow_the_directory_at_every_login(ldap_directory, cluster):
    log_in("bob", "ldap-bob")
    ldap_directory.set_members("store-a-operators", [])
    log_in("bob", "ldap-bob")
    assert roles("bob") == {("store-a", Role.VIEWER, "ldap")}
    ldap_directory.set_members("store-a-viewers", ["carol"])
    log_in("bob", "ldap-bob")
    assert roles("bob") == set()
    changes = AuditEntry.objects.filter(username="bob").values_list("action", flat=True)
    assert sorted(changes) == ["change", "create", "delete"]


def test_a_group_naming_a_missing_cluster_grants_nothing(ldap_directory, cluster):
    assert logged_in(log_in("carol", "ldap-carol"))
    assert roles("carol") == {("store-a", Role.VIEWER, "ldap")}


def test_a_role_given_in_the_portal_is_left_alone(ldap_directory, cluster, other_cluster):
    log_in("bob", "ldap-bob")
    bob = get_user_model().objects.get(username="bob")
    Membership.objects.filter(user=bob).update(role=Role.ADMIN, source="local")
    Membership.objects.create(user=bob, cluster=other_cluster, role=Role.VIEWER)
    ldap_directory.set_members("store-a-operators", [])
    ldap_directory.set_members("store-a-viewers", [])
    log_in("bob", "ldap-bob")
    assert roles("bob") == {("store-a", Role.ADMIN, "local"), ("store-b", Role.VIEWER, "local")}


def test_wrong_directory_password_logs_nobody_in(ldap_directory, cluster):
    assert not logged_in(log_in("alice", "wrong"))
    assert not get_user_model().objects.filter(username="alice").exists()


def test_local_accounts_keep_working_and_are_not_taken_over(ldap_directory, cluster):
    make_user("clash", Role.VIEWER, cluster)
    assert not logged_in(log_in("clash", "ldap-clash"))
    assert logged_in(log_in("clash", "pw-clash"))
    assert roles("clash") == {("store-a", Role.VIEWER, "local")}
    assert not LdapAccount.objects.filter(user__username="clash").exists()


def test_a_user_deactivated_in_the_portal_stays_out(ldap_directory, cluster):
    log_in("alice", "ldap-alice")
    get_user_model().objects.filter(username="alice").update(is_active=False)
    assert not logged_in(log_in("alice", "ldap-alice"))


def test_without_ldap_server_uri_there_is_no_ldap():
    assert ldap_settings({}) == {}


def test_role_map_grammar():
    assert parse_role_map(
        '{"CN=Ops,DC=x": ["operator@c001", "viewer"], "cn=adm,dc=x": "admin"}'
    ) == [
        ("cn=ops,dc=x", "operator", "c001"),
        ("cn=ops,dc=x", "viewer", None),
        ("cn=adm,dc=x", "admin", None),
    ]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("not json", "not valid JSON"),
        ('["admin"]', "JSON object"),
        ('{"cn=x": "root"}', "must be one of viewer, operator, admin"),
    ],
)
def test_a_bad_role_map_stops_start_up_with_the_reason(text, says):
    with pytest.raises(ImproperlyConfigured, match=says):
        parse_role_map(text)


def test_user_search_settings_are_required():
    with pytest.raises(ImproperlyConfigured, match="LDAP_USER_SEARCH_BASE"):
        ldap_settings({"LDAP_SERVER_URI": "ldap://127.0.0.1"})
