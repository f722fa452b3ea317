"""What the navigation bar needs on every page."""

from django.http import HttpRequest

from clusters.models import Membership, Role


def navigation(request: HttpRequest) -> dict:
    """One query for both links: the audit trail is for admins of any cluster
    (audit.may_read_audit), People for admins of all clusters (access.is_global_admin)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    if user.is_superuser:
        return {"can_read_audit": True, "can_manage_people": True, "can_manage_alerts": True}
    admin_on = list(
        Membership.objects.filter(user=user, role=Role.ADMIN).values_list("cluster_id", flat=True)
    )
    global_admin = None in admin_on
    return {
        "can_read_audit": bool(admin_on),
        "can_manage_people": global_admin,
        "can_manage_alerts": global_admin,
    }
