"""What the navigation bar needs on every page."""

from django.http import HttpRequest

from clusters import access, audit


def navigation(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    can_read_audit = audit.may_read_audit(user)
    return {
        "can_read_audit": can_read_audit,
        # Global admins read the audit too: nobody else pays for the second question.
        "can_manage_alerts": can_read_audit and access.is_global_admin(user),
    }
