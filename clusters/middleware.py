"""Request-scoped context: every request gets an id that groups its audit entries; and
the user name django-axes records of a login attempt."""

import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from clusters import audit

REQUEST_ID_HEADER = "X-Request-ID"


class RequestIdMiddleware:
    """Give each request a fresh UUID (never the client's: an id the client chose could
    merge unrelated audit groups), used by audit.record() and echoed in the response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with audit.action(uuid.uuid4()) as request_id:
            response = self.get_response(request)
        response[REQUEST_ID_HEADER] = str(request_id)
        return response


# Django's own limit for user names: no real user has a longer one.
USERNAME_MAX_LENGTH = 150


def axes_username(request: HttpRequest, credentials: dict | None) -> str | None:
    """The user name a login attempt gave, as django-axes stores it (AXES_USERNAME_CALLABLE).

    Cut to a user name's length and without NUL: axes keeps it in a varchar(255), and
    PostgreSQL refuses longer values and NUL characters — a 500 on the login page
    otherwise (found by tests/test_form_fuzzing.py).
    """
    source = credentials or getattr(request, "data", request.POST)
    # django-axes gives the setting its default in axes.conf, not in portal.settings.
    username = source.get(getattr(settings, "AXES_USERNAME_FORM_FIELD", "username"))
    if username is None:
        return None
    return str(username).replace("\x00", "")[:USERNAME_MAX_LENGTH]
