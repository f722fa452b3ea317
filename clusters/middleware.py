"""Request-scoped context: every request gets an id that groups its audit entries."""

import uuid
from collections.abc import Callable

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
            request.request_id = request_id
            response = self.get_response(request)
        response[REQUEST_ID_HEADER] = str(request_id)
        return response
