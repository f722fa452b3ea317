"""The JSON API: token authentication, the pages' roles, no secrets, and a fuzzing run of
its OpenAPI description that must never produce a server error."""

import json
import os
from io import StringIO
from unittest import mock

import asyncssh
import hypothesis
import pytest
import schemathesis
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from schemathesis import GenerationMode

from clusters import ssh
from clusters.models import DrbdResource, DrbdVolume, Job, SshCredential
from tests import records
from tests.test_access_matrix import HELD, ON_CLUSTER, PERSONAS, RANK


def token_client(user) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def clients(personas) -> dict[str, APIClient]:
    return {persona: token_client(personas[persona]) for persona in PERSONAS}


def expected(persona: str, minimum: str, ok: int) -> int:
    if persona == "anonymous":
        return 401
    if persona not in ON_CLUSTER:
        return 404
    return ok if HELD[persona] >= RANK[minimum] else 403


def test_read_endpoints_by_persona_with_tokens(clients, cluster):
    job = records_job(cluster)
    urls = {
        reverse("api:cluster-detail", args=[cluster.name]): "viewer",
        reverse("api:node-list", args=[cluster.name]): "viewer",
        reverse("api:lun-list", args=[cluster.name]): "viewer",
        reverse("api:job-detail", args=[job.pk]): "viewer",
    }
    failures = [
        f"GET {url} as {persona}: {got} (expected {want})"
        for url, minimum in urls.items()
        for persona in PERSONAS
        if (got := clients[persona].get(url).status_code)
        != (want := expected(persona, minimum, 200))
    ]
    assert failures == []


def test_collect_by_persona_with_tokens(clients, cluster, django_capture_on_commit_callbacks):
    url = reverse("api:cluster-collect", args=[cluster.name])
    with mock.patch("clusters.tasks.collect_job.delay") as delay:
        for persona in PERSONAS:
            with django_capture_on_commit_callbacks(execute=True):
                got = clients[persona].post(url).status_code
            assert got == expected(persona, "operator", 202), persona
    allowed = [p for p in PERSONAS if expected(p, "operator", 202) == 202]
    jobs = Job.objects.filter(kind=Job.Kind.COLLECT, cluster=cluster).order_by("pk")
    assert [job.requested_by.username for job in jobs] == ["operator", "cluster-admin", "root"]
    assert len(allowed) == 3
    assert [c.args for c in delay.call_args_list] == [(job.pk,) for job in jobs]


def test_collect_answers_with_the_queued_job(clients, cluster):
    with mock.patch("clusters.tasks.collect_job.delay"):
        response = clients["operator"].post(reverse("api:cluster-collect", args=[cluster.name]))
    body = response.json()
    assert (body["kind"], body["state"], body["cluster"]) == ("collect", "queued", cluster.name)
    assert Job.objects.get(pk=body["id"]).requested_by.username == "operator"


def test_a_bad_token_is_refused(cluster):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    assert client.get(reverse("api:cluster-list")).status_code == 401


def test_session_posts_need_the_csrf_token(personas, cluster):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(personas["operator"])
    response = client.post(reverse("api:cluster-collect", args=[cluster.name]))
    assert response.status_code == 403
    assert not Job.objects.exists()


def names(response) -> list[str]:
    return [row["name"] for row in response.json()["results"]]


def test_cluster_list_shows_only_visible_clusters(clients, cluster, other_cluster):
    assert names(clients["viewer"].get(reverse("api:cluster-list"))) == ["store-a"]
    assert names(clients["global_viewer"].get(reverse("api:cluster-list"))) == [
        "store-a",
        "store-b",
    ]
    assert names(clients["no_membership"].get(reverse("api:cluster-list"))) == []


def test_nodes_show_latest_collection_and_no_secrets(clients, cluster):
    key = asyncssh.generate_private_key("ssh-ed25519")
    credential = SshCredential(name="lab-key")
    credential.set_private_key(key.export_private_key().decode())
    credential.save()
    node = cluster.nodes.order_by("name").first()
    node.credential = credential
    node.host_key = key.export_public_key().decode().strip()
    node.save()
    records.snapshot(node, age=120, reachable=True)
    records.snapshot(node, age=10, reachable=False, error="cannot reach node: timed out")
    response = clients["viewer"].get(reverse("api:node-list", args=[cluster.name]))
    first = response.json()["results"][0]
    assert first["name"] == node.name
    assert (first["credential"], first["reachable"]) == ("lab-key", False)
    assert first["last_error"] == "cannot reach node: timed out"
    assert first["host_key_fingerprint"] == ssh.fingerprint(node.host_key)
    text = response.content.decode()
    assert "PRIVATE KEY" not in text
    assert credential.private_key_encrypted not in text
    assert "private_key" not in text


def test_luns_carry_identity_and_mappings(clients, cluster):
    response = clients["viewer"].get(reverse("api:lun-list", args=[cluster.name]))
    (lun,) = response.json()["results"]
    device = cluster.devices.get()
    assert (lun["name"], lun["t10_dev_id"], lun["nv_cache"]) == (device.name, device.t10_dev_id, 0)
    assert sorted((m["node"], m["group"], m["lun"]) for m in lun["mappings"]) == [
        ("store-a-n0", "esxi", 0),
        ("store-a-n1", "esxi", 0),
    ]


@pytest.fixture
def findings(cluster, other_cluster):
    records.finding(cluster, "CRITICAL", code="SCST_NV_CACHE_ON")
    records.finding(cluster, "WARNING", code="DRBD_FENCING", object_ref="drbd:r0")
    records.finding(cluster, "INFO", code="GONE", resolved=True)
    records.finding(other_cluster, "CRITICAL", code="DRBD_PROTOCOL_NOT_C")


def codes(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["code"] for row in response.json()["results"]]


def test_findings_are_open_visible_and_filterable(clients, findings):
    url = reverse("api:finding-list")
    viewer, everyone = clients["viewer"], clients["global_viewer"]
    assert codes(viewer.get(url)) == ["SCST_NV_CACHE_ON", "DRBD_FENCING"]
    assert codes(everyone.get(url, {"severity": "CRITICAL"})) == [
        "SCST_NV_CACHE_ON",
        "DRBD_PROTOCOL_NOT_C",
    ]
    assert codes(everyone.get(url, {"cluster": "store-b"})) == ["DRBD_PROTOCOL_NOT_C"]
    assert codes(viewer.get(url, {"cluster": "store-b"})) == []


def test_a_bad_filter_is_a_400_that_says_why(clients, findings):
    response = clients["viewer"].get(reverse("api:finding-list"), {"severity": "HUGE"})
    assert response.status_code == 400
    assert "severity" in response.json()


def test_paging_numbers_beyond_sql_integers_are_bounded(clients, cluster):
    """Found by the fuzzing run below: a huge offset used to reach SQL and fail with a 500."""
    records_job(cluster)
    huge = {"offset": 10**30, "limit": 10**30}
    response = clients["viewer"].get(reverse("api:job-list"), huge)
    assert response.status_code == 200
    assert response.json()["results"] == []


def records_job(cluster) -> Job:
    return Job.objects.create(kind=Job.Kind.COLLECT, cluster=cluster, summary="2 of 2 nodes")


def test_jobs_of_all_clusters_only_for_global_roles(clients, cluster):
    mine = records_job(cluster)
    everywhere = Job.objects.create(kind=Job.Kind.COLLECT, cluster=None)
    url = reverse("api:job-list")
    ids = {p: [j["id"] for j in clients[p].get(url).json()["results"]] for p in PERSONAS[1:]}
    assert ids["viewer"] == [mine.pk]
    assert ids["global_viewer"] == [everywhere.pk, mine.pk]
    assert ids["admin_of_other_cluster"] == []
    detail = clients["viewer"].get(reverse("api:job-detail", args=[everywhere.pk]))
    assert detail.status_code == 404


def test_tokens_come_from_a_management_command(personas, cluster):
    out = StringIO()
    call_command("drf_create_token", "viewer", stdout=out)
    key = Token.objects.get(user=personas["viewer"]).key
    assert key in out.getvalue()


def test_the_schema_describes_every_endpoint(clients):
    response = clients["viewer"].get(reverse("api:schema"), {"format": "json"})
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    assert set(schema["paths"]) == {
        "/api/clusters/",
        "/api/clusters/{cluster_name}/",
        "/api/clusters/{cluster_name}/nodes/",
        "/api/clusters/{cluster_name}/luns/",
        "/api/clusters/{cluster_name}/collect/",
        "/api/clusters/{cluster_name}/plans/",
        "/api/plans/{job_id}/",
        "/api/plans/{job_id}/apply/",
        "/api/findings/",
        "/api/jobs/",
        "/api/jobs/{job_id}/",
    }
    assert "private_key" not in response.content.decode()


# --- Plans and their apply -------------------------------------------------------------


@pytest.fixture
def ready_plans(monkeypatch):
    """Stored plans count as still ready (their facts are fakes; see test_plan_pages for
    plans judged out of date)."""
    from clusters.services import changes

    monkeypatch.setattr(changes, "plan_status", lambda job: changes.PlanStatus("ready", "Ready."))


def plan_job(cluster, state: str = Job.State.FAILED) -> Job:
    plan = {"description": "d", "change": {}, "nodes": [], "refusals": [], "findings": []}
    return Job.objects.create(
        kind=Job.Kind.PLAN, cluster=cluster, state=state, params={**plan, "fingerprint": ""}
    )


def spare_resource(cluster, name: str = "r7") -> str:
    """A DRBD resource that backs no device yet (one backing device, one identity)."""
    resource, created = DrbdResource.objects.get_or_create(cluster=cluster, name=name, port=7797)
    if created:
        for node in cluster.nodes.all():
            DrbdVolume.objects.create(
                resource=resource, node=node, minor=7, backing_disk="/dev/vg0/lun7"
            )
    return name


def add_lun(cluster, **spec) -> dict:
    target = cluster.targets.order_by("pk").first()
    change = {
        "kind": "add_lun",
        "spec": {
            "device_name": "lun7",
            "resource": spare_resource(cluster),
            "lun": 7,
            "lun_sets": [{"target": target.pk, "group": target.groups.get().pk}],
            **spec,
        },
    }
    return {"change": change, "description": "Add LUN 7"}


def test_operators_plan_and_the_portal_chooses_the_identity(clients, cluster):
    records.collected(cluster)
    url = reverse("api:plan-create", args=[cluster.name])
    body = add_lun(cluster, identity={"t10_dev_id": "chosen-by-client"})
    response = clients["operator"].post(url, body, format="json")
    assert response.status_code == 201, response.content
    plan = response.json()
    assert (plan["kind"], plan["cluster"], plan["requested_by"]) == ("plan", "store-a", "operator")
    spec = Job.objects.get(pk=plan["id"]).params["change"]["spec"]
    assert spec["identity"]["t10_dev_id"] != "chosen-by-client"
    assert spec["identity"]["prod_id"] == "lun7"
    assert not cluster.devices.filter(name="lun7").exists()  # planning changes nothing
    if plan["state"] == "failed":  # a monitored cluster: the refusal says why
        assert plan["plan"]["refusals"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "add_lun"}, "spec"),
        ({"kind": "remove_mappings", "mapping_ids": []}, "mapping_ids"),
        ({"kind": "revert", "revision": 10**30}, "revision"),
        ({"kind": "format_disks"}, "kind"),
    ],
)
def test_a_malformed_change_is_a_400(clients, cluster, change, field):
    url = reverse("api:plan-create", args=[cluster.name])
    response = clients["operator"].post(url, {"change": change, "description": "x"}, format="json")
    assert response.status_code == 400
    assert field in json.dumps(response.json())
    assert not Job.objects.exists()


def test_revert_to_a_revision_of_another_cluster_is_refused(clients, cluster):
    url = reverse("api:plan-create", args=[cluster.name])
    change = {"kind": "revert", "revision": 4242}
    response = clients["operator"].post(url, {"change": change, "description": "x"}, format="json")
    assert response.status_code == 400
    assert "No revision 4242" in response.json()["detail"][0]


def test_plan_and_apply_by_persona(clients, cluster, ready_plans):
    plan_url = reverse("api:plan-create", args=[cluster.name])
    with (
        mock.patch("clusters.services.changes.plan_create") as create,
        mock.patch("clusters.tasks.plan_job.delay"),
        mock.patch("clusters.tasks.apply_job.delay"),
    ):
        create.return_value = plan_job(cluster, Job.State.SUCCEEDED)
        for persona in PERSONAS:
            got = clients[persona].post(plan_url, add_lun(cluster), format="json").status_code
            assert got == expected(persona, "operator", 201), persona
            # A plan applies once: each persona gets a plan of its own.
            apply_url = reverse("api:plan-apply", args=[plan_job(cluster, "succeeded").pk])
            got = clients[persona].post(apply_url, {"reason": "ticket 7"}, format="json")
            assert got.status_code == expected(persona, "operator", 202), persona


def test_a_plan_applies_once(clients, cluster, ready_plans):
    url = reverse("api:plan-apply", args=[plan_job(cluster, Job.State.SUCCEEDED).pk])
    with mock.patch("clusters.tasks.apply_job.delay"):
        assert clients["operator"].post(url, {"reason": "a"}, format="json").status_code == 202
        again = clients["operator"].post(url, {"reason": "b"}, format="json")
    assert again.status_code == 409
    assert "applied already" in again.json()["detail"][0]


def test_apply_queues_the_job_once_committed(
    clients, cluster, django_capture_on_commit_callbacks, ready_plans
):
    plan = plan_job(cluster, Job.State.SUCCEEDED)
    url = reverse("api:plan-apply", args=[plan.pk])
    with (
        mock.patch("clusters.tasks.apply_job.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = clients["operator"].post(url, {"reason": "change 7"}, format="json")
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["id"])
    assert (job.kind, job.params["reason"]) == ("apply", "change 7")
    delay.assert_called_once_with(job.pk)


def test_a_refused_plan_cannot_be_applied(clients, cluster):
    url = reverse("api:plan-apply", args=[plan_job(cluster, Job.State.FAILED).pk])
    response = clients["operator"].post(url, {"reason": "anyway"}, format="json")
    assert response.status_code == 409
    assert "passed every interlock" in response.json()["detail"][0]


def test_apply_needs_a_reason(clients, cluster):
    url = reverse("api:plan-apply", args=[plan_job(cluster, Job.State.SUCCEEDED).pk])
    response = clients["operator"].post(url, {"reason": "  "}, format="json")
    assert response.status_code == 400
    assert not Job.objects.filter(kind=Job.Kind.APPLY).exists()


# --- Fuzzing the OpenAPI description (schemathesis, in-process over WSGI) ------------------


NEGATIVE = GenerationMode.NEGATIVE
# Per operation; raise it locally (API_FUZZ_EXAMPLES=300) for a deeper search.
EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "20"))


@pytest.fixture
def connections_kept_open():
    """No connection recycling around each request, as in Django's own test client: it
    would close the test's transaction on PostgreSQL (SQLite's in-memory database
    ignores it). Off for the whole test, since a response is closed after the app returns."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_no_operation_answers_with_a_server_error(
    personas, cluster, findings, connections_kept_open
):
    """Every operation, about 20 generated requests each, as a superuser: never a 5xx."""
    records.collected(cluster)  # fresh facts: planning needs no collection over SSH
    known = {"cluster_name": cluster.name, "job_id": plan_job(cluster, Job.State.SUCCEEDED).pk}
    headers = {"Authorization": f"Token {Token.objects.create(user=personas['superuser']).key}"}
    app = get_wsgi_application()
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", app, headers=headers)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 11
    errors, sent = [], []

    for operation in operations:
        # Valid and invalid requests, and some on objects that exist, so that more than
        # the 404 path is run.
        params = {name: known[name] for name in known if f"{{{name}}}" in operation.path}
        cases = operation.as_strategy() | operation.as_strategy(NEGATIVE)
        if params:
            cases |= operation.as_strategy(path_parameters=params)
            cases |= operation.as_strategy(NEGATIVE, path_parameters=params)

        @hypothesis.given(case=cases)
        @hypothesis.settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
        def never_a_server_error(case):
            with (
                mock.patch("clusters.tasks.collect_job.delay"),
                mock.patch("clusters.tasks.apply_job.delay"),
            ):
                response = case.call(headers=headers)
            sent.append(response.status_code)
            if response.status_code >= 500:
                errors.append(
                    f"{case.method} {case.formatted_path} {case.query}: {response.status_code}"
                )

        never_a_server_error()
    assert errors == []
    assert len(sent) > 5 * len(operations)  # it really generated requests
    assert {200, 202, 404} <= set(sent)
