"""Who may do what: the one place every view, API endpoint and task trigger asks.

Roles are ordered viewer < operator < admin. A Membership grants a role on one cluster,
or on every cluster when its cluster is empty; superusers are admins everywhere.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any, Protocol, cast

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404

from clusters.models import Cluster, Membership, Role

ROLE_RANK = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.ADMIN: 3}


def role_on(user, cluster: Cluster | None) -> Role | None:
    """The highest role the user holds on the cluster (None: global roles only), or None."""
    if not user.is_authenticated or not user.is_active:
        return None
    if user.is_superuser:
        return Role.ADMIN
    roles = Membership.objects.filter(user=user).filter(
        cluster__isnull=True
    ) | Membership.objects.filter(user=user, cluster=cluster)
    ranked = [Role(r) for r in roles.values_list("role", flat=True)]
    return max(ranked, key=ROLE_RANK.__getitem__, default=None)


def has_role(user, cluster: Cluster, minimum: Role) -> bool:
    role = role_on(user, cluster)
    return role is not None and ROLE_RANK[role] >= ROLE_RANK[minimum]


def require_role(user, cluster: Cluster, minimum: Role) -> None:
    """Raise PermissionDenied unless the user holds at least `minimum` on the cluster."""
    if not has_role(user, cluster, minimum):
        raise PermissionDenied(f"This needs the {minimum.label} role on cluster {cluster.name}.")


def is_global_admin(user) -> bool:
    """Superusers and holders of the admin role on all clusters (may add clusters)."""
    if not user.is_authenticated or not user.is_active:
        return False
    return (
        user.is_superuser
        or Membership.objects.filter(user=user, cluster__isnull=True, role=Role.ADMIN).exists()
    )


def visible_clusters(user, minimum: Role = Role.VIEWER) -> QuerySet[Cluster]:
    """Clusters on which the user holds at least `minimum`."""
    if not user.is_authenticated or not user.is_active:
        return Cluster.objects.none()
    if user.is_superuser:
        return Cluster.objects.all()
    allowed = [r for r in Role if ROLE_RANK[r] >= ROLE_RANK[minimum]]
    grants = Membership.objects.filter(user=user, role__in=allowed)
    if grants.filter(cluster__isnull=True).exists():
        return Cluster.objects.all()
    return Cluster.objects.filter(pk__in=grants.values("cluster_id"))


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
            if role_on(request.user, cluster) is None:
                raise Http404("No such cluster.")
            require_role(request.user, cluster, minimum)
            return view(request, cluster, *args, **kwargs)

        checked = cast(RoleCheckedView, wrapper)
        checked.required_role = minimum  # read by the access-matrix test
        return checked

    return decorator
