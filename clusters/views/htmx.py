"""The one rule of htmx pages: the full document normally, the named partial on htmx."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django_htmx.middleware import HtmxDetails


def htmx_of(request: HttpRequest) -> HtmxDetails:
    """What django-htmx's middleware (on every request) read from the HX-* headers; the
    type stubs know HttpRequest without it."""
    return request.htmx  # type: ignore[attr-defined]


def page_or_partial(
    request: HttpRequest, template: str, partial: str, context: dict
) -> HttpResponse:
    """Render the page, or only its `{% partialdef partial %}` for an htmx request.

    A history restore (back button after hx-push-url) needs the whole page again.
    """
    htmx = htmx_of(request)
    wants_partial = htmx and not htmx.history_restore_request
    response = render(request, f"{template}#{partial}" if wants_partial else template, context)
    patch_vary_headers(response, ("HX-Request",))
    return response
