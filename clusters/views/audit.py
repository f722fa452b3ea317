"""The audit trail page: read-only, filterable, scoped to the clusters a user administers."""

from django import forms
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse

from clusters import access, audit
from clusters.models import Role
from clusters.views.htmx import page_or_partial

ANY = [("", "any")]
PAGE_SIZE = 100


class AuditFilterForm(forms.Form):
    """GET filters; an empty or invalid value filters nothing (a stale link still works)."""

    cluster = forms.ChoiceField(required=False)
    user = forms.CharField(required=False, max_length=150)
    action = forms.ChoiceField(required=False, choices=ANY + list(audit.Action.choices))
    request_id = forms.UUIDField(required=False, widget=forms.HiddenInput)

    def __init__(self, data, cluster_names: list[str]) -> None:
        super().__init__(data)
        self.fields["cluster"].choices = ANY + [(n, n) for n in cluster_names]

    def filters(self) -> dict[str, object]:
        self.is_valid()
        cleaned = getattr(self, "cleaned_data", {})
        return {
            "cluster_name": cleaned.get("cluster", ""),
            "username": cleaned.get("user", ""),
            "action": cleaned.get("action", ""),
            "request_id": cleaned.get("request_id") or "",
        }


def audit_log(request: HttpRequest) -> HttpResponse:
    if not audit.may_read_audit(request.user):
        raise PermissionDenied("The audit trail is for cluster admins.")
    clusters = access.visible_clusters(request.user, Role.ADMIN).order_by("name")
    form = AuditFilterForm(request.GET, list(clusters.values_list("name", flat=True)))
    wanted = {key: value for key, value in form.filters().items() if value}
    entries = audit.entries_visible_to(request.user).filter(**wanted)
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"form": form, "page": page, "query": _query_without_page(request)}
    return page_or_partial(request, "clusters/audit.html", "audit-table", context)


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()
