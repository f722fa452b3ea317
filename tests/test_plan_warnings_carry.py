"""A warning the removal form gives (initiators logged in) stays on the plan, the apply
job's page and the API."""

from django.test import Client
from django.urls import reverse

from clusters.models import Job, LunMapping, Role
from clusters.services import changes, collection
from lab import api
from tests.factories import make_user

VMWARE = "iqn.1998-01.com.vmware:esx01-4c4c4544"


def test_logged_in_initiator_warning_reaches_the_apply_job_page_and_api(lab, lab_cluster):
    api.add_session(lab.dir, f"{lab_cluster.name}-a", VMWARE, io_rate_kb=0)
    collection.collection_run(collection.collection_create(lab_cluster))
    user = make_user("op", Role.OPERATOR, lab_cluster)
    ids = list(
        LunMapping.objects.filter(target__cluster=lab_cluster, device__name="r0").values_list(
            "pk", flat=True
        )
    )
    plan = changes.plan_now(
        lab_cluster, user, {"kind": "remove_mappings", "mapping_ids": ids}, "remove r0"
    )
    assert plan.state == Job.State.SUCCEEDED, plan.summary
    apply_job = Job.objects.create(
        kind=Job.Kind.APPLY,
        cluster=lab_cluster,
        requested_by=user,
        params={"plan_job": plan.pk, "reason": "r0 retired"},
    )
    client = Client()
    client.force_login(user)
    for job in (plan, apply_job):
        page = client.get(reverse("job-detail", args=[job.pk])).content.decode()
        warnings = page.split('id="job-warnings"')[1].split("</section>")[0]
        assert VMWARE in warnings and "is logged in and sees it" in warnings
    body = client.get(f"/api/jobs/{apply_job.pk}/").json()
    assert any(VMWARE in w for w in body["warnings"])
