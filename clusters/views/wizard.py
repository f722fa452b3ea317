"""The add-LUN wizard page: one page whose steps swap in place (htmx) or reload (no JS).
Each step has its own URL (?run=ID&step=NAME), so the browser's back and forward buttons
move between steps; the entries are in the session. The wizard's state and rules live in
clusters/services/lun_wizard.py."""

from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from clusters import access, tasks
from clusters.models import Cluster, Role
from clusters.services import changes
from clusters.services.lun_wizard import (
    STEPS,
    TITLES,
    LunWizard,
    next_step,
    previous_step,
)
from clusters.views.htmx import htmx_of, page_or_partial
from clusters.views.queue import queue_job


def step_url(wizard: LunWizard, step: str) -> str:
    query = urlencode({"run": wizard.run, "step": step})
    return f"{reverse('lun-add', args=[wizard.cluster.name])}?{query}"


def _go(request: HttpRequest, wizard: LunWizard, step: str) -> HttpResponse:
    """Move to another step: its URL enters the browser's history (htmx pushes it; without
    JS the browser follows a redirect to it)."""
    wizard.reach(step)
    wizard.save(request.session)
    if not htmx_of(request):
        return redirect(step_url(wizard, step))
    response = _show(request, wizard, step)
    response["HX-Push-Url"] = step_url(wizard, step)
    return response


def _show(request: HttpRequest, wizard: LunWizard, step: str, form=None) -> HttpResponse:
    wizard.save(request.session)
    context: dict[str, Any] = {
        "cluster": wizard.cluster,
        "wizard": wizard,
        "step": step,
        "steps": [(s, TITLES[s]) for s in STEPS],
        "step_number": STEPS.index(step) + 1,
        "step_count": len(STEPS),
        "title": TITLES[step],
        "form": form if form is not None else wizard.form(step),
        "identity": wizard.draft.get("identity"),
        "disk_sizes": wizard.draft.get("disk_sizes") or {},
    }
    if step == "review":
        context["invalid_step"], context["values"] = wizard.cleaned()
        context["chosen_sets"] = [
            s.label for s in wizard.lun_sets if s.code in context["values"].get("lun_sets", [])
        ]
    return page_or_partial(request, "clusters/wizard.html", "wizard-step", context)


def _plan(request: HttpRequest, wizard: LunWizard) -> HttpResponse:
    """The review step's submit: re-check everything, then plan (nothing is changed)."""
    invalid, values = wizard.cleaned()
    if invalid is not None:
        wizard.errors.append(f"The {TITLES[invalid]} step needs attention again.")
        return _show(request, wizard, invalid, wizard.form(invalid, wizard.draft.get(invalid)))
    clash = wizard.identity_clash()
    if clash:
        wizard.identity_new(values["device_name"])
        wizard.errors.append(clash)
        return _show(request, wizard, "review")
    new = values.get("new_resource")
    spec = wizard.spec(values)
    sets = ", ".join(s.label for s in wizard.lun_sets if s.code in values["lun_sets"])
    drbd = f"new DRBD {spec.resource}, port {new['port']}" if new else f"DRBD {spec.resource}"
    description = f"Add LUN {spec.lun} {spec.device_name} ({drbd}) on {sets}"
    change = wizard.change(values)
    try:
        job = changes.plan_create(wizard.cluster, request.user, change, description)
    except ValidationError as exc:
        wizard.errors += exc.messages
        return _show(request, wizard, "review")
    except changes.PlanRefused as exc:
        wizard.errors.append(str(exc))
        return _show(request, wizard, "review")
    down = queue_job(request, job, tasks.plan_job)
    if down is not None:
        return down
    url = reverse("plan-detail", args=[job.pk])
    return HttpResponseClientRedirect(url) if htmx_of(request) else redirect(url)


@access.cluster_view(Role.OPERATOR)
def lun_add(request: HttpRequest, cluster: Cluster) -> HttpResponse:
    """GET without a run: a new run, sent to its first step's URL. GET with one: that step,
    as far as the run has reached. POST: `step` names the step submitted, `go` is next or
    back."""
    if request.method != "POST":
        run = request.GET.get("run")
        if not run:
            wizard = LunWizard.start(cluster, request.user, request.session)
            return redirect(step_url(wizard, "cluster"))
        wizard = LunWizard.resume(cluster, request.user, request.session, run)
        return _show(request, wizard, wizard.allowed(request.GET.get("step")))
    wizard = LunWizard.resume(cluster, request.user, request.session, request.POST.get("run", ""))
    step = request.POST.get("step")
    if wizard.errors or step not in STEPS:
        return _show(request, wizard, "cluster")
    if request.POST.get("go") == "back":
        wizard.keep(step, request.POST)
        return _go(request, wizard, previous_step(step))
    if step == "review":
        return _plan(request, wizard)
    form = wizard.form(step, request.POST)
    if form is not None and not (form.is_valid() and wizard.check(step, form)):
        return _show(request, wizard, step, form)
    if form is not None:
        wizard.accept(step, form)
    return _go(request, wizard, next_step(step))
