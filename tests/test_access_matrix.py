"""Every URL in the project × every kind of user, checked against a written-down rule.

A URL pattern added without an entry in RULES fails test_every_url_is_classified, so
nobody can add a page without deciding who may see it.
"""

from django.contrib.admin.sites import site as admin_site
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

PERSONAS = [
    "anonymous",
    "no_membership",
    "viewer",
    "operator",
    "admin_of_other_cluster",
    "admin",
    "global_viewer",
    "superuser",
]
ON_CLUSTER = {"viewer", "operator", "admin", "global_viewer", "superuser"}
HELD = {"viewer": 1, "global_viewer": 1, "operator": 2, "admin": 3, "superuser": 3}
RANK = {"viewer": 1, "operator": 2, "admin": 3}
ADMINS = {"admin", "admin_of_other_cluster", "superuser"}

# Outcomes: "ok" 200; "login" redirect to a login page (the portal's or the admin's);
# "redirect" any other redirect; "unauthenticated" 401 (the API); "hidden" 404;
# "denied" 403; "method" 405.


def anyone_logged_in(ok: str = "ok"):
    return lambda persona: "login" if persona == "anonymous" else ok


def cluster_role(minimum: str, ok: str = "ok"):
    """Needs `minimum` on the URL's cluster; clusters a user cannot see answer 404."""

    def rule(persona: str) -> str:
        if persona == "anonymous":
            return "login"
        if persona not in ON_CLUSTER:
            return "hidden"
        return ok if HELD[persona] >= RANK[minimum] else "denied"

    return rule


def api(rule):
    """The API answers 401 (not a login redirect) to a request without credentials."""
    return lambda persona: "unauthenticated" if persona == "anonymous" else rule(persona)


def global_admin(persona: str) -> str:
    """Admins of every cluster (in the personas: the superuser)."""
    return {"anonymous": "login", "superuser": "ok"}.get(persona, "denied")


def post_only(persona: str) -> str:
    return "login" if persona == "anonymous" else "method"


def django_admin(persona: str, ok: str = "ok") -> str:
    return ok if persona == "superuser" else "login"


RULES = {
    "home": anyone_logged_in("redirect"),
    "login": lambda persona: "ok" if persona == "anonymous" else "redirect",
    "logout": lambda persona: "login" if persona == "anonymous" else "method",
    "cluster-list": anyone_logged_in(),
    "cluster-detail": cluster_role("viewer"),
    "cluster-collect": cluster_role("operator", ok="method"),  # POST only
    "host-key-approve": cluster_role("admin"),
    "compliance": anyone_logged_in(),
    "finding-mute": cluster_role("operator"),  # the sample finding is on the test cluster
    "adoption-add": lambda p: {"anonymous": "login", "superuser": "ok"}.get(p, "denied"),
    "adoption-discover": cluster_role("admin"),
    "adoption-import": lambda p: "login" if p == "anonymous" else "method",  # POST only
    "adoption-mode": cluster_role("admin"),
    "job-list": anyone_logged_in(),  # each sees the jobs of their clusters: test_job_list.py
    "job-detail": cluster_role("viewer"),  # the sample job is on the test cluster
    "job-reconcile": cluster_role("viewer"),  # POSTing a reconcile plan needs operator
    # Changes: the wizard, removal and revert need operators; plans are shown to viewers.
    "lun-add": cluster_role("operator", ok="redirect"),  # a new run → its first step's URL
    "lun-remove": cluster_role("operator"),  # the sample mapping is on the test cluster
    "revision-revert": cluster_role("operator", ok="method"),  # POST only
    "cluster-enforce": cluster_role("operator", ok="method"),  # POST only
    "cluster-lock": cluster_role("viewer"),
    "plan-detail": cluster_role("viewer"),  # the sample job is a plan of the test cluster
    "plan-apply": cluster_role("operator", ok="method"),  # POST only
    # History and charts: a cluster's viewers.
    "cluster-history": cluster_role("viewer"),
    "lun-history": cluster_role("viewer"),  # the sample LUN is on the test cluster
    # Alerts: channels hold webhook URLs and addresses for every cluster: global admins.
    "alerts": global_admin,
    "alert-deliveries": global_admin,
    "alert-channel-add": global_admin,
    "alert-channel-edit": global_admin,
    "alert-subscription-add": global_admin,
    "alert-channel-delete": global_admin,  # GET asks first
    "alert-channel-test": post_only,
    "alert-subscription-delete": post_only,
    # Day-2 workflows: starting and running one needs operators; plans are shown to viewers.
    "lun-grow": cluster_role("operator"),
    "lun-edit": cluster_role("operator"),
    "resource-verify": cluster_role("operator"),
    "resource-resync": cluster_role("operator"),
    "resource-split-brain": cluster_role("admin"),  # it discards a node's writes
    "node-drain": cluster_role("operator"),
    "node-return": cluster_role("operator"),
    "workflow-plan": cluster_role("viewer"),
    "workflow-apply": cluster_role("operator", ok="method"),  # POST only
    # The audit trail: admins of any cluster (each sees their own clusters) and superusers.
    "audit": lambda p: "login" if p == "anonymous" else ("ok" if p in ADMINS else "denied"),
    "audit-export": lambda p: "login" if p == "anonymous" else ("ok" if p in ADMINS else "denied"),
    # The trail is never editable, not even by superusers; they may read it in the admin.
    "admin:clusters_auditentry_add": lambda p: django_admin(p, ok="denied"),
    "admin:clusters_auditentry_delete": lambda p: django_admin(p, ok="denied"),
    # Records (snapshots, findings, mutes, jobs, revisions) are written by the portal only.
    **{
        f"admin:clusters_{model}_{view}": lambda p: django_admin(p, ok="denied")
        for model in ("nodesnapshot", "finding", "mute", "job", "revision")
        for view in ("add", "delete")
    },
    # People and access: users and global roles for global admins (here the superuser),
    # a cluster's roles for its admins, API tokens for everyone; changes are POST only
    # (their roles: tests/test_people_pages.py).
    "people-list": lambda p: (
        "login" if p == "anonymous" else ("ok" if p == "superuser" else "denied")
    ),
    "person-add": lambda p: (
        "login" if p == "anonymous" else ("ok" if p == "superuser" else "denied")
    ),
    "person-detail": lambda p: (
        "login" if p == "anonymous" else ("ok" if p == "superuser" else "denied")
    ),
    "person-role-grant": anyone_logged_in("method"),
    "person-active": anyone_logged_in("method"),
    "membership-revoke": anyone_logged_in("method"),
    "cluster-access": cluster_role("admin"),
    "tokens": anyone_logged_in(),
    "token-revoke": anyone_logged_in("method"),
    # An invite link is public: whoever holds it sets the password (a bad one says so).
    "password_reset_confirm": lambda p: "ok",
    "password_reset_complete": lambda p: "ok",
    # API docs are pages: a login redirect, not the API's 401.
    "api:root": anyone_logged_in("redirect"),
    "api:docs": anyone_logged_in(),
    "api:redoc": anyone_logged_in(),
    # The JSON API: the same roles as the pages; GET on a POST-only endpoint is 405.
    "api:cluster-list": api(anyone_logged_in()),
    "api:cluster-detail": api(cluster_role("viewer")),
    "api:node-list": api(cluster_role("viewer")),
    "api:lun-list": api(cluster_role("viewer")),
    "api:cluster-collect": api(anyone_logged_in("method")),  # roles: tests/test_api.py
    "api:finding-list": api(anyone_logged_in()),
    "api:job-list": api(anyone_logged_in()),
    "api:job-detail": api(cluster_role("viewer")),  # the sample job is on the test cluster
    "api:plan-create": api(anyone_logged_in("method")),  # roles: tests/test_api.py
    "api:plan-detail": api(cluster_role("viewer")),  # the sample job is a plan
    "api:plan-apply": api(anyone_logged_in("method")),  # roles: tests/test_api.py
    "api:schema": api(anyone_logged_in()),
    # Prometheus metrics span every cluster: superusers and global roles only.
    "metrics": api(lambda p: "ok" if p in {"global_viewer", "superuser"} else "denied"),
    # django-axes' login attempt records are written by axes only.
    **{
        f"admin:axes_{model}_add": lambda p: django_admin(p, ok="denied")
        for model in ("accessattempt", "accesslog", "accessfailurelog")
    },
    # The Django admin is for superusers only; its login page is public.
    "admin:login": lambda p: "redirect" if p == "superuser" else "ok",
    "admin:logout": lambda p: {"anonymous": "login", "superuser": "method"}.get(p, "redirect"),
    "admin:autocomplete": lambda p: django_admin(p, ok="denied"),  # needs query parameters
    "admin:view_on_site": lambda p: django_admin(p, ok="hidden"),
    "admin:<catch-all>": lambda p: django_admin(p, ok="hidden"),
}


def _sample_finding(cluster) -> int:
    from django.utils import timezone

    from clusters.models import Finding

    now = timezone.now()
    finding, _ = Finding.objects.get_or_create(
        cluster=cluster,
        code="SAMPLE",
        object_ref="device:lun0",
        defaults={"severity": "WARNING", "title": "sample", "first_seen": now, "last_seen": now},
    )
    return finding.pk


def _sample_job(cluster) -> int:
    """A (refused) plan: a job like any other for the job pages, and a plan for plan pages."""
    from clusters.models import Job

    plan = {"description": "sample", "change": {}, "nodes": [], "refusals": ["sample"]}
    return Job.objects.get_or_create(
        cluster=cluster,
        kind=Job.Kind.PLAN,
        defaults={"state": Job.State.FAILED, "params": {**plan, "findings": [], "fingerprint": ""}},
    )[0].pk


def _sample_mapping(cluster) -> int:
    from clusters.models import LunMapping

    return LunMapping.objects.filter(target__cluster=cluster).order_by("pk").first().pk


def _sample_revision(cluster) -> int:
    from clusters.models import Job, Revision

    job = Job.objects.create(cluster=cluster, kind=Job.Kind.APPLY, state=Job.State.SUCCEEDED)
    return Revision.objects.create(
        cluster=cluster, job=job, description="sample", files={}, inventory={}
    ).pk


def _sample_membership(cluster) -> int:
    return cluster.memberships.order_by("pk").first().pk


def _sample_token(cluster) -> int:
    from clusters.services import people

    member = cluster.memberships.order_by("pk").first().user
    return people.token_create(member, member, "sample")[0].pk


def _sample_channel(cluster) -> int:
    from clusters.models import Channel

    channel, _ = Channel.objects.get_or_create(
        name="sample", defaults={"kind": "email", "recipients": "ops@example.com"}
    )
    return channel.pk


def _sample_subscription(cluster) -> int:
    from clusters.models import Subscription

    return Subscription.objects.get_or_create(channel_id=_sample_channel(cluster), cluster=cluster)[
        0
    ].pk


# URL parameters naming objects of the test cluster, and how to get one.
def _sample_workflow(cluster) -> int:
    """A (refused) workflow plan of the test cluster."""
    from clusters.models import Job

    return Job.objects.get_or_create(
        cluster=cluster,
        kind=Job.Kind.WORKFLOW_PLAN,
        defaults={"state": Job.State.REFUSED, "params": {"description": "sample", "change": {}}},
    )[0].pk


def _sample_device(cluster) -> str:
    from clusters.models import ScstDevice

    return ScstDevice.objects.filter(cluster=cluster).order_by("name").first().name


SAMPLE_OBJECTS = {
    "workflow_id": _sample_workflow,
    "device": _sample_device,
    "resource": lambda cluster: cluster.drbd_resources.order_by("name").first().name,
    "node_name": lambda cluster: cluster.nodes.order_by("name").first().name,
    "mapping_id": _sample_mapping,
    "revision_id": _sample_revision,
    "finding_id": _sample_finding,
    "job_id": _sample_job,
    "user_id": lambda cluster: cluster.memberships.order_by("pk").first().user_id,
    "membership_id": _sample_membership,
    "token_id": _sample_token,
    "device_name": lambda cluster: cluster.devices.order_by("name").first().name,
    "channel_id": _sample_channel,
    "subscription_id": _sample_subscription,
}


def walk(patterns, prefix: str = ""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            namespace = f"{entry.namespace}:" if entry.namespace else ""
            yield from walk(entry.url_patterns, prefix + namespace)
        else:
            # The admin's unnamed final catch-all answers every other /admin/ path.
            yield prefix + (entry.name or "<catch-all>"), entry


def all_patterns() -> dict[str, URLPattern]:
    return dict(walk(get_resolver().url_patterns))


def rule_for(name: str):
    if name in RULES:
        return RULES[name]
    if name.startswith("admin:"):
        return django_admin
    return None


def test_every_url_is_classified():
    unclassified = [name for name in sorted(all_patterns()) if rule_for(name) is None]
    assert unclassified == [], (
        f"URL patterns without an access rule: {unclassified}. "
        "Add each to RULES in tests/test_access_matrix.py."
    )


def admin_model_for(name: str):
    for model in admin_site._registry:
        if name.startswith(f"admin:{model._meta.app_label}_{model._meta.model_name}_"):
            return model
    return None


def sample_url(name: str, pattern: URLPattern, cluster) -> str | None:
    """A concrete URL for the pattern, with arguments pointing at the test cluster."""
    if name.endswith("<catch-all>"):
        return "/admin/no-such-page/"
    kwargs = {}
    for param in pattern.pattern.regex.groupindex:
        if param == "cluster_name":
            kwargs[param] = cluster.name
        elif param in SAMPLE_OBJECTS:
            kwargs[param] = SAMPLE_OBJECTS[param](cluster)
        elif param == "app_label":
            kwargs[param] = "clusters"
        elif param == "content_type_id":
            kwargs[param] = ContentType.objects.get_for_model(type(cluster)).pk
        elif param in ("object_id", "id"):
            model = admin_model_for(name) or type(cluster)
            obj = model.objects.order_by("pk").first()
            if obj is None:
                return None
            kwargs[param] = str(obj.pk)
        else:
            kwargs[param] = "x"
    return reverse(name, kwargs=kwargs)


def outcome(response) -> str:
    if response.status_code == 200:
        return "ok"
    if response.status_code in (301, 302):
        location = response.headers["Location"]
        if location.startswith(("/accounts/login/", "/admin/login/")):
            return "login"
        return "redirect"
    names = {401: "unauthenticated", 404: "hidden", 403: "denied", 405: "method"}
    return names.get(response.status_code, str(response.status_code))


def client_for(personas, persona: str) -> Client:
    client = Client()
    if personas[persona] is not None:
        client.force_login(personas[persona])
    return client


def test_access_matrix(personas, cluster):
    clients = {persona: client_for(personas, persona) for persona in PERSONAS}
    failures, checked = [], 0
    for name, pattern in sorted(all_patterns().items()):
        url = sample_url(name, pattern, cluster)
        if url is None:
            continue
        expected = rule_for(name)
        for persona in PERSONAS:
            got = outcome(clients[persona].get(url))
            checked += 1
            if got != expected(persona):
                failures.append(
                    f"{name} {url} as {persona}: expected {expected(persona)}, got {got}"
                )
    assert not failures, "\n".join(failures)
    assert checked > 100  # the admin alone contributes dozens of URLs


def test_cluster_page_outcome_differs_by_persona(personas, cluster):
    """Guard against a vacuous matrix: the same URL really gives different answers."""
    url = reverse("cluster-detail", args=[cluster.name])
    seen = {outcome(client_for(personas, p).get(url)) for p in PERSONAS}
    assert seen == {"ok", "login", "hidden"}
