"""The audit trail page and its CSV export: read-only, filterable, scoped to the clusters a
user administers."""

import csv
from collections.abc import Iterator
from typing import Any, cast

from django import forms
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils import timezone

from clusters import access, audit
from clusters.models import Role
from clusters.templatetags.portal import when_text
from clusters.views.htmx import page_or_partial

ANY = [("", "any")]
PAGE_SIZE = 100
CSV_COLUMNS = ["when", "user", "action", "cluster", "object type", "object", "changes", "reason"]
CSV_COLUMNS += ["request id"]


class AuditFilterForm(forms.Form):
    """GET filters; an empty or invalid value filters nothing (a stale link still works)."""

    cluster = forms.ChoiceField(required=False)
    user = forms.CharField(required=False, max_length=150)
    action = forms.ChoiceField(required=False, choices=ANY + list(audit.Action.choices))
    object = forms.CharField(required=False, max_length=100, label="Object contains")
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    request_id = forms.UUIDField(required=False, widget=forms.HiddenInput)

    def __init__(self, data, cluster_names: list[str]) -> None:
        super().__init__(data)
        choices = ANY + [(n, n) for n in cluster_names]
        cast(forms.ChoiceField, self.fields["cluster"]).choices = choices

    def filters(self) -> dict[str, Any]:  # (`object` is a field name here)
        self.is_valid()
        cleaned = getattr(self, "cleaned_data", {})
        wanted = {
            "cluster_name": cleaned.get("cluster", ""),
            "username": cleaned.get("user", ""),
            "action": cleaned.get("action", ""),
            "object_repr__icontains": cleaned.get("object", ""),
            "at__date__gte": cleaned.get("since"),
            "at__date__lte": cleaned.get("until"),
            "request_id": cleaned.get("request_id"),
        }
        return {lookup: value for lookup, value in wanted.items() if value}


def _entries(request: HttpRequest) -> tuple[AuditFilterForm, QuerySet[audit.AuditEntry]]:
    if not access.may_read_audit(request.user):
        raise PermissionDenied("The audit trail is for cluster admins.")
    clusters = access.visible_clusters(request.user, Role.ADMIN).order_by("name")
    form = AuditFilterForm(request.GET, list(clusters.values_list("name", flat=True)))
    return form, access.visible_audit_entries(request.user).filter(**form.filters())


def audit_log(request: HttpRequest) -> HttpResponse:
    form, entries = _entries(request)
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    query = _query_without_page(request)
    context = {"form": form, "page": page, "query": query}
    return page_or_partial(request, "clusters/audit.html", "audit-table", context)


def audit_export(request: HttpRequest) -> StreamingHttpResponse:
    """The filtered trail as CSV, every matching entry (not one page), one row per entry."""
    _, entries = _entries(request)
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response = StreamingHttpResponse(_csv_rows(entries), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    return response


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value: str) -> str:
    # A cell starting with = + - @ is a formula to spreadsheet programs; object names and
    # reasons come from users and nodes, so such cells are quoted as text (OWASP CSV injection).
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _csv_rows(entries: QuerySet[audit.AuditEntry]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for entry in entries.iterator(chunk_size=500):
        changes = "\n".join(line for change in entry.changes() for line in change.lines())
        row = [
            when_text(entry.at),
            entry.username,
            entry.get_action_display(),
            entry.cluster_name,
            entry.object_type,
            entry.object_repr,
            changes,
            entry.reason,
            str(entry.request_id),
        ]
        yield writer.writerow([_cell(value) for value in row])


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()
