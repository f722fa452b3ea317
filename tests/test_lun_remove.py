"""Removing a LUN mapping: the confirmation offers the device's mappings on both nodes and
lists the initiators connected to it now; posting plans the removal (nothing removed)."""

import pytest
from django.test import Client
from django.urls import reverse

from clusters.models import Job, LunMapping, Role
from clusters.services import collection
from lab import api
from tests.factories import make_cluster, make_user

VMWARE = "iqn.1998-01.com.vmware:esx01-4c4c4544"


@pytest.fixture
def operator(lab_cluster):
    user = make_user("op", Role.OPERATOR, lab_cluster)
    client = Client()
    client.force_login(user)
    return client


def r0_mappings(cluster) -> list[LunMapping]:
    mappings = LunMapping.objects.filter(target__cluster=cluster, device__name="r0")
    return list(mappings.order_by("target__node__name"))


def url_for(cluster, mapping: LunMapping) -> str:
    return reverse("lun-remove", args=[cluster.name, mapping.pk])


def test_confirmation_lists_the_connected_initiator_and_both_nodes_mappings(
    lab_cluster, lab, operator
):
    api.add_session(lab.dir, f"{lab_cluster.name}-a", VMWARE)
    collection.collection_run(collection.collection_create(lab_cluster))
    first, second = r0_mappings(lab_cluster)
    text = operator.get(url_for(lab_cluster, first)).content.decode()
    sessions = text.split('id="sessions"')[1].split("</table>")[0]
    assert VMWARE in sessions
    assert f"{lab_cluster.name}-a" in sessions and "default LUN set" in sessions
    assert "1 initiator session can see this device." in text
    for mapping in (first, second):  # both nodes offered, both checked by default
        assert f'value="{mapping.pk}" id="id_mapping_{mapping.pk}"\n             checked' in text
    assert "SCST_LUN_ONE_NODE" in text


def test_session_through_an_initiator_group_is_listed_with_its_group(lab_cluster, lab, operator):
    api.add_session(lab.dir, f"{lab_cluster.name}-b", VMWARE, group="esxi")
    collection.collection_run(collection.collection_create(lab_cluster))
    text = operator.get(url_for(lab_cluster, r0_mappings(lab_cluster)[0])).content.decode()
    sessions = text.split('id="sessions"')[1].split("</table>")[0]
    assert VMWARE in sessions and "group esxi" in sessions


def test_no_connected_initiator_says_so(lab_cluster, operator):
    text = operator.get(url_for(lab_cluster, r0_mappings(lab_cluster)[0])).content.decode()
    assert "No initiator is logged in to a LUN set that contains r0." in text


def test_posting_plans_the_removal_on_both_nodes_and_removes_nothing_yet(lab_cluster, operator):
    mappings = r0_mappings(lab_cluster)
    before = LunMapping.objects.count()
    response = operator.post(
        url_for(lab_cluster, mappings[0]), {"mapping_ids": [m.pk for m in mappings]}
    )
    plan = Job.objects.get(kind=Job.Kind.PLAN)
    assert response["Location"] == reverse("plan-detail", args=[plan.pk])
    assert plan.state == Job.State.SUCCEEDED, plan.summary
    assert plan.params["change"] == {
        "kind": "remove_mappings",
        "mapping_ids": [m.pk for m in mappings],
    }
    assert LunMapping.objects.count() == before
    text = operator.get(response["Location"]).content.decode()
    assert text.count('<span class="del">-\t\tLUN 0 r0</span>') == 2  # on a and on b
    assert text.count('<span class="del">-\tDEVICE r0 {</span>') == 2  # left unmapped: removed
    assert "with -force" in text


def test_removing_on_one_node_only_is_refused_by_the_plan(lab_cluster, operator):
    first, _ = r0_mappings(lab_cluster)
    operator.post(url_for(lab_cluster, first), {"mapping_ids": [first.pk]})
    plan = Job.objects.get(kind=Job.Kind.PLAN)
    assert plan.state == Job.State.REFUSED
    text = operator.get(reverse("plan-detail", args=[plan.pk])).content.decode()
    assert "SCST_LUN_ONE_NODE" in text
    assert 'id="apply-form"' not in text


def test_choosing_no_mapping_is_refused_and_plans_nothing(lab_cluster, operator):
    response = operator.post(url_for(lab_cluster, r0_mappings(lab_cluster)[0]), {})
    assert "Choose at least one mapping to remove." in response.content.decode()
    assert not Job.objects.filter(kind=Job.Kind.PLAN).exists()


def test_mapping_of_another_cluster_is_not_found(db):
    mine, theirs = make_cluster("store-m"), make_cluster("store-t")
    client = Client()
    client.force_login(make_user("op", Role.OPERATOR, mine))
    foreign = LunMapping.objects.filter(target__cluster=theirs).first()
    assert client.get(reverse("lun-remove", args=[mine.name, foreign.pk])).status_code == 404


def test_viewers_cannot_remove(db):
    cluster = make_cluster("store-v")
    client = Client()
    client.force_login(make_user("v", Role.VIEWER, cluster))
    mapping = LunMapping.objects.filter(target__cluster=cluster).first()
    url = reverse("lun-remove", args=[cluster.name, mapping.pk])
    assert client.post(url, {"mapping_ids": [mapping.pk]}).status_code == 403
    assert not Job.objects.exists()
