"""The job page: what a collection (or plan, apply) did, node by node."""

from django.http import Http404, HttpRequest, HttpResponse

from clusters import access, selectors
from clusters.views.htmx import page_or_partial


def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    """Jobs of a cluster are visible to its viewers; jobs of all clusters (no cluster)
    only to global roles and superusers: role_on(user, None) is the global role."""
    job = selectors.job_with_events(job_id)
    if access.role_on(request.user, job.cluster) is None:
        raise Http404("No such job.")
    context = {"job": job, "warnings": selectors.job_warnings(job)}
    response = page_or_partial(request, "clusters/job_detail.html", "job-status", context)
    if request.htmx and job.is_finished:
        # The poll that sees the job finish reloads the page it sits on, so that
        # the page shows what the job changed (the finished partial stops polling).
        response["HX-Refresh"] = "true"
    return response
