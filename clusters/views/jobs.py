"""The jobs centre (every job a user may see) and the job page (what one job did, node by
node)."""

from typing import cast

from django import forms
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse

from clusters import access, selectors
from clusters.models import Job
from clusters.views.htmx import htmx_of, page_or_partial

ANY = [("", "any")]
PAGE_SIZE = 50
POLL_SECONDS = 2


class JobFilterForm(forms.Form):
    """GET filters; an empty or invalid value filters nothing (a stale link still works)."""

    cluster = forms.ChoiceField(required=False)
    kind = forms.ChoiceField(required=False, choices=ANY + list(Job.Kind.choices))
    state = forms.ChoiceField(required=False, choices=ANY + list(Job.State.choices))
    user = forms.CharField(required=False, max_length=150)
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, data, cluster_names: list[str]) -> None:
        super().__init__(data)
        choices = ANY + [(n, n) for n in cluster_names]
        cast(forms.ChoiceField, self.fields["cluster"]).choices = choices

    def filters(self) -> selectors.JobFilters:
        self.is_valid()
        cleaned = getattr(self, "cleaned_data", {})
        return selectors.JobFilters(**{name: value for name, value in cleaned.items() if value})


def job_list(request: HttpRequest) -> HttpResponse:
    """Every job the user may see, filtered; the table polls itself while a job on it runs."""
    names = access.visible_clusters(request.user).order_by("name").values_list("name", flat=True)
    form = JobFilterForm(request.GET, list(names))
    jobs = selectors.job_list(request.user, form.filters())
    page = Paginator(jobs, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "form": form,
        "page": page,
        "query": query_without_page(request),
        "running": any(not job.is_finished for job in page),
        "poll_seconds": POLL_SECONDS,
    }
    return page_or_partial(request, "clusters/job_list.html", "job-table", context)


def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    """Jobs of a cluster are visible to its viewers; jobs of all clusters (no cluster)
    only to global roles and superusers."""
    job = selectors.job_with_events(job_id)
    if not access.may_see_job(request.user, job):
        raise Http404("No such job.")
    context = {"job": job, "warnings": selectors.job_warnings(job)}
    response = page_or_partial(request, "clusters/job_detail.html", "job-status", context)
    if htmx_of(request) and job.is_finished:
        # The poll that sees the job finish reloads the page it sits on, so that
        # the page shows what the job changed (the finished partial stops polling).
        response["HX-Refresh"] = "true"
    return response


def query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()
