"""What the navigation bar needs on every page."""

from dataclasses import asdict

from django.http import HttpRequest

from clusters import access


def navigation(request: HttpRequest) -> dict:
    """The site-wide links the user may follow (access.navigation: one query)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return asdict(access.navigation(user))
