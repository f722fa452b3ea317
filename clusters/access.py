"""Who may do what: the one place every view, API endpoint, metric and task trigger asks.

Roles are ordered viewer < operator < admin. A Membership grants a role on one cluster,
or on every cluster when its cluster is empty (a global role); superusers are admins
everywhere. On a cluster, viewers see it, operators also plan and apply changes and
workflows, admins also approve host keys, adopt, and give roles on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import wraps
from typing import Any, Protocol, cast

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404

from clusters.audit import AuditEntry
from clusters.models import Cluster, Job, Membership, Role
from clusters.services.change_kinds import SplitBrainRecovery, Workflow

ROLE_RANK = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.ADMIN: 3}


def _signed_in(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_active)


def _highest(roles: Iterable[str]) -> Role | None:
    return max((Role(r) for r in roles), key=ROLE_RANK.__getitem__, default=None)


def _at_least(role: Role | None, minimum: Role) -> bool:
    return role is not None and ROLE_RANK[role] >= ROLE_RANK[minimum]


def global_role(user: Any) -> Role | None:
    """The highest role the user holds on all clusters (superusers: admin), or None."""
    if not _signed_in(user):
        return None
    if user.is_superuser:
        return Role.ADMIN
    return _highest(
        Membership.objects.filter(user=user, cluster__isnull=True).values_list("role", flat=True)
    )


def holds_global_role(user: Any, minimum: Role = Role.VIEWER) -> bool:
    """Whether the user holds at least `minimum` on all clusters: the one global check."""
    return _at_least(global_role(user), minimum)


def role_on(user: Any, cluster: Cluster | None) -> Role | None:
    """The highest role the user holds on the cluster (None: global roles only), or None."""
    if not _signed_in(user):
        return None
    if user.is_superuser:
        return Role.ADMIN
    roles = Membership.objects.filter(user=user).filter(
        cluster__isnull=True
    ) | Membership.objects.filter(user=user, cluster=cluster)
    return _highest(roles.values_list("role", flat=True))


def may_view(user: Any, cluster: Cluster | None) -> bool:
    """See the cluster, its jobs and findings; None: what belongs to no cluster (jobs over
    all clusters), which global roles see."""
    return role_on(user, cluster) is not None


def may_see_job(user: Any, job: Job) -> bool:
    return may_view(user, job.cluster)


def has_role(user: Any, cluster: Cluster, minimum: Role) -> bool:
    return _at_least(role_on(user, cluster), minimum)


def require_role(user: Any, cluster: Cluster, minimum: Role) -> None:
    """Raise PermissionDenied unless the user holds at least `minimum` on the cluster."""
    if not has_role(user, cluster, minimum):
        raise PermissionDenied(f"This needs the {minimum.label} role on cluster {cluster.name}.")


def may_operate(user: Any, cluster: Cluster) -> bool:
    """Plan and apply changes and workflows on the cluster, collect it, mute its findings."""
    return has_role(user, cluster, Role.OPERATOR)


def may_administer(user: Any, cluster: Cluster) -> bool:
    """Approve host keys, adopt, and give roles on the cluster."""
    return has_role(user, cluster, Role.ADMIN)


def role_to_run(workflow: Workflow) -> Role:
    """Discarding a node's writes (split-brain recovery) is an admin's decision; the
    other workflows, an operator's."""
    return Role.ADMIN if isinstance(workflow, SplitBrainRecovery) else Role.OPERATOR


def may_run(user: Any, cluster: Cluster, workflow: Workflow) -> bool:
    """Plan and run the workflow on the cluster."""
    return has_role(user, cluster, role_to_run(workflow))


def is_global_admin(user: Any) -> bool:
    """Superusers and holders of the admin role on all clusters (may add clusters, manage
    people and alert channels)."""
    return holds_global_role(user, Role.ADMIN)


def require_people_admin(user: Any) -> None:
    if not is_global_admin(user):
        raise PermissionDenied("Managing people needs the Admin role on all clusters.")


def require_role_granter(user: Any, cluster: Cluster | None) -> None:
    """Roles on a cluster are given by its admins; roles on all clusters by global admins."""
    if cluster is None:
        require_people_admin(user)
    else:
        require_role(user, cluster, Role.ADMIN)


def may_change_account(by: Any, user: Any) -> bool:
    """Only a superuser may change a superuser's account (e.g. deactivate it)."""
    return by.is_superuser or not user.is_superuser


def visible_clusters(user: Any, minimum: Role = Role.VIEWER) -> QuerySet[Cluster]:
    """Clusters on which the user holds at least `minimum`."""
    if not _signed_in(user):
        return Cluster.objects.none()
    if holds_global_role(user, minimum):
        return Cluster.objects.all()
    allowed = [r for r in Role if ROLE_RANK[r] >= ROLE_RANK[minimum]]
    grants = Membership.objects.filter(user=user, role__in=allowed)
    return Cluster.objects.filter(pk__in=grants.values("cluster_id"))


def may_read_all_clusters(user: Any) -> bool:
    """Metrics cover every cluster: superusers and holders of a global role only."""
    return holds_global_role(user)


def visible_jobs(user: Any) -> QuerySet[Job]:
    """Jobs of the visible clusters; jobs of no cluster only for global roles."""
    seen = Q(cluster__in=visible_clusters(user))
    if holds_global_role(user):
        seen |= Q(cluster__isnull=True)
    return Job.objects.filter(seen)


def may_read_audit(user: Any) -> bool:
    """The audit trail is for superusers and admins of at least one cluster."""
    if not _signed_in(user):
        return False
    return user.is_superuser or Membership.objects.filter(user=user, role=Role.ADMIN).exists()


def visible_audit_entries(user: Any) -> QuerySet[AuditEntry]:
    """Superusers see every entry; admins see their clusters' entries, and global admins
    also the entries that belong to no cluster (global roles, SSH credentials)."""
    entries = AuditEntry.objects.select_related("cluster")
    if not _signed_in(user):
        return entries.none()
    if user.is_superuser:
        return entries
    seen = Q(cluster__in=visible_clusters(user, Role.ADMIN))
    if is_global_admin(user):
        seen |= Q(cluster__isnull=True)
    return entries.filter(seen)


@dataclass(frozen=True)
class Navigation:
    """Which site-wide links the navigation bar offers the user."""

    can_read_audit: bool = False
    can_manage_people: bool = False
    can_manage_alerts: bool = False


def navigation(user: Any) -> Navigation:
    """One query for every link: the audit trail for admins of any cluster
    (may_read_audit), people and alert channels for global admins (is_global_admin)."""
    if not _signed_in(user):
        return Navigation()
    if user.is_superuser:
        return Navigation(True, True, True)
    admin_on = list(
        Membership.objects.filter(user=user, role=Role.ADMIN).values_list("cluster_id", flat=True)
    )
    global_admin = None in admin_on
    return Navigation(bool(admin_on), global_admin, global_admin)


class RoleCheckedView(Protocol):
    """A view wrapped by cluster_view; the access-matrix test reads its minimum role."""

    required_role: Role

    def __call__(
        self, request: HttpRequest, cluster_name: str, *args: Any, **kwargs: Any
    ) -> HttpResponse: ...


def cluster_view(minimum: Role) -> Callable:
    """Decorate a view taking `cluster_name`: it receives the Cluster, checked for the role.

    Clusters the user may not see at all answer 404 so that names do not leak.
    """

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, cluster_name: str, *args, **kwargs) -> HttpResponse:
            cluster = get_object_or_404(Cluster, name=cluster_name)
            if not may_view(request.user, cluster):
                raise Http404("No such cluster.")
            require_role(request.user, cluster, minimum)
            return view(request, cluster, *args, **kwargs)

        checked = cast(RoleCheckedView, wrapper)
        checked.required_role = minimum  # read by the access-matrix test
        return checked

    return decorator
