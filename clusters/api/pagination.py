"""Paging of API lists: limit/offset, bounded so that no number reaches SQL unchecked."""

from rest_framework.pagination import LimitOffsetPagination

# An OFFSET beyond 64 bits is an error in SQLite and PostgreSQL (a 500, found by the
# schemathesis run in tests/test_api.py); no list here comes near this many rows.
MAX_OFFSET = 10**9


class Pagination(LimitOffsetPagination):
    default_limit = 100
    max_limit = 1000

    def get_offset(self, request) -> int:
        return min(super().get_offset(request), MAX_OFFSET)
