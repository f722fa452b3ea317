"""LDAP login: django-auth-ldap's backend, with the portal's roles following LDAP groups.

At every LDAP login the user's memberships marked `ldap` are made to match the groups
named in PORTAL_LDAP_ROLE_MAP; roles granted in the portal (`local`) are left alone.
A local account (one with a password of its own) is never taken over by a directory
entry of the same name.
"""

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_auth_ldap.backend import LDAPBackend

from clusters import access, audit
from clusters.models import Cluster, LdapAccount, Membership, Role

log = logging.getLogger(__name__)


class PortalLDAPBackend(LDAPBackend):
    def get_or_build_user(self, username, ldap_user):
        user, built = super().get_or_build_user(username, ldap_user)
        if not built and not LdapAccount.objects.filter(user=user).exists():
            # Same name as a portal account: logging in as it with a directory password
            # would let whoever owns that directory name take the local account over.
            raise ldap_user.AuthenticationFailed(
                f"{username} is a local account; it does not log in through LDAP"
            )
        return user, built

    def authenticate_ldap_user(self, ldap_user, password):
        user = super().authenticate_ldap_user(ldap_user, password)
        if user is not None:
            roles_sync(user, ldap_user.dn, sorted(ldap_user.group_dns))
            if not user.is_active:  # deactivated in the portal: the directory cannot undo it
                return None
        return user


def desired_roles(group_dns: list[str]) -> dict[str | None, Role]:
    """{cluster name or None (all clusters): the highest role the groups grant}."""
    groups = {dn.lower() for dn in group_dns}
    wanted: dict[str | None, Role] = {}
    for group_dn, role, cluster in getattr(settings, "PORTAL_LDAP_ROLE_MAP", []):
        if group_dn in groups:
            current = wanted.get(cluster)
            if current is None or access.ROLE_RANK[Role(role)] > access.ROLE_RANK[current]:
                wanted[cluster] = Role(role)
    return wanted


@transaction.atomic
def roles_sync(user, dn: str, group_dns: list[str]) -> None:
    """Make the user's LDAP memberships those the groups grant; each change audited."""
    LdapAccount.objects.update_or_create(
        user=user, defaults={"dn": dn, "groups": group_dns, "synced_at": timezone.now()}
    )
    wanted = desired_roles(group_dns)
    clusters = {c.name: c for c in Cluster.objects.filter(name__in=[n for n in wanted if n])}
    for name in set(wanted) - set(clusters) - {None}:
        log.warning("LDAP_ROLE_MAP names cluster %s, which does not exist", name)
    targets = {None: wanted.get(None)} | {clusters[n]: wanted[n] for n in clusters}
    reason = f"LDAP groups of {dn}"
    held = {m.cluster: m for m in Membership.objects.filter(user=user).select_related("cluster")}
    for cluster, role in targets.items():
        membership = held.get(cluster)
        if role is None or (membership is not None and membership.source != "ldap"):
            continue  # no grant, or a role given in the portal, which LDAP leaves alone
        if membership is None:
            membership = Membership.objects.create(
                user=user, cluster=cluster, role=role, source="ldap"
            )
            audit.record(
                user,
                audit.Action.CREATE,
                membership,
                after=audit.snapshot(membership),
                reason=reason,
            )
        elif membership.role != role:
            before = audit.snapshot(membership)
            membership.role = role
            membership.save(update_fields=["role"])
            after = audit.snapshot(membership)
            audit.record(user, audit.Action.CHANGE, membership, before, after, reason=reason)
    for cluster, membership in held.items():
        if membership.source == "ldap" and targets.get(cluster) is None:
            audit.record(
                user,
                audit.Action.DELETE,
                membership,
                before=audit.snapshot(membership),
                reason=reason,
            )
            membership.delete()
