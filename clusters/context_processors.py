"""What the navigation bar needs on every page."""

from django.http import HttpRequest

from clusters import access, audit


def navigation(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "can_read_audit": audit.may_read_audit(user),
        "can_manage_alerts": access.is_global_admin(user),
    }
