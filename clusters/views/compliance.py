"""Compliance: open findings of every visible cluster, and muting one of them."""

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from clusters import access, selectors
from clusters.forms import ComplianceFilterForm, MuteForm
from clusters.models import Cluster, Finding, Role
from clusters.services import findings as finding_services
from clusters.views.htmx import htmx_of, page_or_partial


def compliance(request: HttpRequest) -> HttpResponse:
    clusters = access.visible_clusters(request.user)
    form = ComplianceFilterForm(
        request.GET,
        codes=selectors.finding_codes(clusters),
        cluster_names=list(clusters.order_by("name").values_list("name", flat=True)),
    )
    page = selectors.open_findings_page(
        clusters, request.GET.get("page"), settings.PAGE_SIZE, **form.filters()
    )
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "findings": page.object_list,
        "query": query.urlencode(),
        "mutable_cluster_ids": mutable_cluster_ids(request),
        "mute_form": MuteForm(),
    }
    return page_or_partial(request, "clusters/compliance.html", "findings-table", context)


def mutable_cluster_ids(request: HttpRequest) -> set[int]:
    operable = access.visible_clusters(request.user, Role.OPERATOR)
    return set(operable.values_list("pk", flat=True))


def finding_mute(request: HttpRequest, finding_id: int) -> HttpResponse:
    """GET: the mute form; POST: mute the finding (operators of its cluster)."""
    findings = Finding.objects.select_related("cluster")
    finding = get_object_or_404(findings, pk=finding_id, resolved_at=None)
    if not access.may_view(request.user, finding.cluster):
        raise Http404("No such open finding.")
    access.require_role(request.user, finding.cluster, Role.OPERATOR)
    form = MuteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            finding_services.mute_create(
                finding, request.user, form.cleaned_data["reason"], form.cleaned_data["until"]
            )
        except ValueError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Muted {finding.code} on {finding.object_ref}.")
            if not htmx_of(request):
                return redirect("compliance")
            form = MuteForm()
    if htmx_of(request):
        return finding_row(request, finding, form)
    return render(request, "clusters/finding_mute.html", {"finding": finding, "form": form})


def finding_row(request: HttpRequest, finding: Finding, form: MuteForm) -> HttpResponse:
    """The finding's row of the compliance table, as it is now."""
    (row,) = selectors.open_findings(Cluster.objects.filter(pk=finding.cluster_id), pk=finding.pk)
    context = {
        "finding": row,
        "mute_form": form,
        "open": bool(form.errors),
        "mutable_cluster_ids": mutable_cluster_ids(request),
    }
    return render(request, "clusters/compliance.html#finding-row", context)
