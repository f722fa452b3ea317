"""People and access: users, their roles, and API tokens (clusters.services.people)."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db.models import Prefetch, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from clusters import access
from clusters.forms_people import (
    ActiveForm,
    ClusterRoleGrantForm,
    RoleGrantForm,
    TokenCreateForm,
    UserCreateForm,
)
from clusters.models import ApiToken, Cluster, Membership, Role
from clusters.services import people

FRESH_KEY_SESSION_FIELD = "people_fresh_api_key"


def _users():
    memberships = Membership.objects.select_related("cluster").order_by("cluster__name")
    return (
        get_user_model()
        .objects.order_by("username")
        .select_related("ldap_account")
        .prefetch_related(Prefetch("memberships", queryset=memberships))
    )


def people_list(request: HttpRequest) -> HttpResponse:
    access.require_people_admin(request.user)
    page = Paginator(_users(), settings.PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "people/people_list.html", {"people": page.object_list, "page": page})


def person_add(request: HttpRequest) -> HttpResponse:
    access.require_people_admin(request.user)
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user, invite = people.user_create(
                request.user, data["username"], data["email"], data["password"]
            )
        except people.PeopleError as exc:
            form.add_error("username", str(exc))
        else:
            if not invite:
                messages.success(request, f"{user.username} can now log in.")
                return redirect("person-detail", user.pk)
            # Rendered, not redirected: the link is shown this once and kept nowhere.
            link = request.build_absolute_uri(invite)
            days = settings.PASSWORD_RESET_TIMEOUT // 86400
            context = {"person": user, "link": link, "timeout_days": days}
            return render(request, "people/person_invited.html", context)
    return render(request, "people/person_add.html", {"form": form})


def person_detail(request: HttpRequest, user_id: int) -> HttpResponse:
    access.require_people_admin(request.user)
    person = get_object_or_404(_users(), pk=user_id)
    form = RoleGrantForm(clusters=Cluster.objects.order_by("name"), allow_global=True)
    context = {
        "person": person,
        "grant_form": form,
        "tokens": person.api_tokens.order_by("-created_at"),
    }
    return render(request, "people/person_detail.html", context)


@require_POST
def person_role_grant(request: HttpRequest, user_id: int) -> HttpResponse:
    access.require_people_admin(request.user)
    person = get_object_or_404(get_user_model(), pk=user_id)
    form = RoleGrantForm(request.POST, clusters=Cluster.objects.order_by("name"), allow_global=True)
    if form.is_valid():
        cluster, role = form.chosen_cluster(), Role(form.cleaned_data["role"])
        _grant(request, person, cluster, role)
    else:
        messages.error(request, "Choose a cluster (or all clusters) and a role.")
    return redirect("person-detail", person.pk)


def _grant(request: HttpRequest, person, cluster: Cluster | None, role: Role) -> None:
    try:
        people.membership_grant(request.user, person, cluster, role)
    except people.PeopleError as exc:
        messages.error(request, str(exc))
    else:
        where = f"cluster {cluster.name}" if cluster else "all clusters"
        messages.success(request, f"{person.username} is now {role.label} on {where}.")


@require_POST
def membership_revoke(request: HttpRequest, membership_id: int) -> HttpResponse:
    membership = get_object_or_404(
        Membership.objects.select_related("user", "cluster"), pk=membership_id
    )
    cluster = membership.cluster
    if cluster is not None and not access.may_view(request.user, cluster):
        raise Http404("No such role.")  # a cluster the user cannot see stays unnamed
    try:
        people.membership_revoke(request.user, membership)
    except people.PeopleError as exc:
        messages.error(request, str(exc))
    else:
        where = f"cluster {cluster.name}" if cluster else "all clusters"
        messages.success(request, f"{membership.user.username} no longer has a role on {where}.")
    following = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(following, {request.get_host()}):
        return redirect(following)
    return redirect("person-detail", membership.user_id)


@require_POST
def person_active(request: HttpRequest, user_id: int) -> HttpResponse:
    access.require_people_admin(request.user)
    person = get_object_or_404(get_user_model(), pk=user_id)
    form = ActiveForm(request.POST)
    form.is_valid()
    active = form.cleaned_data.get("active", False)
    try:
        people.user_set_active(request.user, person, active, form.cleaned_data.get("reason", ""))
    except people.PeopleError as exc:
        messages.error(request, str(exc))
    else:
        state = "active again" if active else "deactivated: no login, no API token"
        messages.success(request, f"{person.username} is {state}.")
    return redirect("person-detail", person.pk)


@access.cluster_view(Role.ADMIN)
def cluster_access(request: HttpRequest, cluster: Cluster) -> HttpResponse:
    """Who holds which role on this cluster; its admins give and take roles here."""
    form = ClusterRoleGrantForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        _grant(request, form.cleaned_data["username"], cluster, Role(form.cleaned_data["role"]))
        return redirect("cluster-access", cluster.name)
    held = Membership.objects.filter(Q(cluster=cluster) | Q(cluster__isnull=True))
    context = {
        "cluster": cluster,
        "memberships": held.select_related("user", "cluster").order_by("user__username"),
        "form": form,
    }
    return render(request, "people/cluster_access.html", context)


def tokens(request: HttpRequest) -> HttpResponse:
    """The user's own API tokens. A new token's key is shown once: it waits in the
    session only until the redirected page shows it (a reload then creates nothing)."""
    form = TokenCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            _token, key = people.token_create(request.user, request.user, form.cleaned_data["name"])
        except people.PeopleError as exc:
            form.add_error(None, str(exc))
        else:
            request.session[FRESH_KEY_SESSION_FIELD] = key
            return redirect("tokens")
    user = request.user
    assert user.is_authenticated  # LoginRequiredMiddleware: only the login page has none
    context = {
        "form": form,
        "key": request.session.pop(FRESH_KEY_SESSION_FIELD, ""),
        "tokens": user.api_tokens.all(),
    }
    return render(request, "people/tokens.html", context)


@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=token_id)
    mine = token.user_id == request.user.pk
    if not mine and not access.is_global_admin(request.user):
        raise Http404("No such token.")
    people.token_revoke(request.user, token)
    messages.success(request, f"Token {token.name} ({token.prefix}…) is revoked.")
    return redirect("tokens") if mine else redirect("person-detail", token.user_id)
