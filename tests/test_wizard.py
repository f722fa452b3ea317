"""The add-LUN wizard: every step refuses bad input with a message and changes nothing;
Back and Next keep the entries; the identity shown at review is the one planned."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from clusters.models import (
    DrbdResource,
    DrbdVolume,
    Job,
    LunMapping,
    Role,
    ScstDevice,
    Target,
)
from clusters.services import changes
from tests.factories import make_cluster, make_user

RUN = re.compile(r'name="run" value="([^"]*)"')
STEP = re.compile(r'name="step" value="(\w+)"')
T10 = re.compile(r'id="summary-t10">([^<]+)<')  # the side panel, shown on every later step
REVIEWED_T10 = re.compile(r'id="identity-t10">([^<]+)<')


class WizardClient:
    """Drives the wizard like a browser without JS: each POST names the run, whose entries
    are in the session, and follows the redirect to the next step's URL."""

    def __init__(self, client: Client, cluster) -> None:
        self.client = client
        self.url = reverse("lun-add", args=[cluster.name])
        self.response = client.get(self.url, follow=True)
        assert self.response.status_code == 200

    @property
    def text(self) -> str:
        return self.response.content.decode()

    @property
    def step(self) -> str:
        return STEP.search(self.text).group(1)

    @property
    def identity(self) -> str:
        return T10.search(self.text).group(1)

    def post(self, go: str = "next", **fields):
        data = {"step": self.step, "go": go, "run": self.run, **fields}
        self.response = self.client.post(self.url, data, follow=True)
        return self.response

    @property
    def run(self) -> str:
        return RUN.search(self.text).group(1)


def entries(cluster, **overrides: dict) -> dict[str, dict]:
    """Valid entries for every step (the LUN sets: every target's default set)."""
    steps: dict[str, dict] = {
        "cluster": {},
        "resource": {"resource": "r1"},
        "device": {
            "device_name": "vmfs1",
            "handler": "vdisk_blockio",
            "uses_reservations": "yes",
            "blocksize": "512",
        },
        "luns": {
            "lun_sets": [str(t.pk) for t in Target.objects.filter(cluster=cluster)],
            "lun": "1",
        },
        "multipath": {"multipath_ack": "on"},
    }
    for step, fields in overrides.items():
        steps[step] = {**steps[step], **fields}
    return steps


def walk_to(wizard: WizardClient, cluster, stop: str, **overrides) -> WizardClient:
    """Pass every step before `stop` with valid entries (or the overrides)."""
    for step, fields in entries(cluster, **overrides).items():
        if step == stop:
            break
        assert wizard.step == step
        wizard.post(**fields)
    assert wizard.step == stop, wizard.text
    return wizard


def rows() -> tuple[int, int, int]:
    return ScstDevice.objects.count(), LunMapping.objects.count(), Job.objects.count()


@pytest.fixture
def free_cluster(db):
    """A factory cluster (no lab) with a DRBD resource r1 that no device exports."""
    cluster = make_cluster("store-w")
    resource = DrbdResource.objects.create(cluster=cluster, name="r1", port=7800)
    for node in cluster.nodes.all():
        DrbdVolume.objects.create(
            resource=resource, node=node, minor=1, backing_disk="/dev/vg0/lun1"
        )
    return cluster


@pytest.fixture
def wizard(free_cluster):
    client = Client()
    client.force_login(make_user("op", Role.OPERATOR, free_cluster))
    return WizardClient(client, free_cluster)


# --- bad input, step by step -----------------------------------------------------------


@pytest.mark.parametrize(
    ("posted", "message"),
    [
        ({}, "Choose the DRBD resource the new LUN exports."),
        ({"resource": "r0"}, "r0 is not a DRBD resource of this cluster that is free"),
        ({"resource": "nope"}, "nope is not a DRBD resource of this cluster that is free"),
    ],
)
def test_missing_or_taken_resource_is_refused(wizard, free_cluster, posted, message):
    walk_to(wizard, free_cluster, "resource")
    before = rows()
    wizard.post(**posted)
    assert wizard.step == "resource"
    assert message in wizard.text
    assert rows() == before


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("vm fs1", "blank"),
        ("vmfs1;reboot", "';'"),
        ("$(id)", "'$'"),
        ("a`b`", "'`'"),
        ("x|y", "'|'"),
    ],
)
def test_device_names_with_blanks_or_shell_characters_are_refused(
    wizard, free_cluster, name, shown
):
    walk_to(wizard, free_cluster, "device")
    before = rows()
    wizard.post(**entries(free_cluster, device={"device_name": name})["device"])
    assert wizard.step == "device"
    assert "no blanks or shell characters" in wizard.text
    assert shown.replace("'", "&#x27;") in wizard.text
    assert "letters, digits, &#x27;_&#x27;" in wizard.text  # and what is allowed
    assert rows() == before


def test_device_name_already_in_the_cluster_is_refused(wizard, free_cluster):
    walk_to(wizard, free_cluster, "device")
    before = rows()
    wizard.post(**entries(free_cluster, device={"device_name": "lun0"})["device"])
    assert wizard.step == "device"
    assert "store-w already has a device lun0." in wizard.text
    assert rows() == before


def test_reservations_question_must_be_answered(wizard, free_cluster):
    walk_to(wizard, free_cluster, "device")
    fields = entries(free_cluster)["device"]
    del fields["uses_reservations"]
    wizard.post(**fields)
    assert wizard.step == "device"
    assert "Answer whether initiators use SCSI reservations." in wizard.text


def test_lun_number_in_use_is_refused_with_where_it_is_used(wizard, free_cluster):
    walk_to(wizard, free_cluster, "luns")
    groups = [f"{g.target_id}-{g.pk}" for t in free_cluster.targets.all() for g in t.groups.all()]
    before = rows()
    wizard.post(lun_sets=groups, lun="0")
    assert wizard.step == "luns"
    assert "LUN 0 is already used by device lun0 in store-w-n0: " in wizard.text
    assert "group esxi" in wizard.text
    assert "The lowest number free in every chosen LUN set is 1." in wizard.text
    assert rows() == before


def test_lun_sets_default_to_the_group_both_nodes_have_and_the_lowest_free_number(
    wizard, free_cluster
):
    walk_to(wizard, free_cluster, "luns")
    for target in free_cluster.targets.all():
        group = target.groups.get(name="esxi")
        assert re.search(rf'value="{target.pk}-{group.pk}"[^>]*checked', wizard.text)
        assert not re.search(rf'value="{target.pk}"[^>]*checked', wizard.text)
    assert re.search(r'name="lun" value="1"', wizard.text)


def test_a_node_without_a_lun_set_is_refused(wizard, free_cluster):
    walk_to(wizard, free_cluster, "luns")
    first = free_cluster.targets.order_by("node__name").first()
    before = rows()
    wizard.post(lun_sets=[str(first.pk)], lun="1")
    assert wizard.step == "luns"
    assert "Choose a LUN set on store-w-n1 too" in wizard.text
    assert rows() == before


def test_multipath_note_must_be_acknowledged(wizard, free_cluster):
    walk_to(wizard, free_cluster, "multipath")
    assert "never Round Robin" in wizard.text
    wizard.post()
    assert wizard.step == "multipath"
    assert "Acknowledge the multipath note to go on." in wizard.text


def test_duplicate_identity_found_at_review_is_refused_and_a_new_one_offered(wizard, free_cluster):
    walk_to(wizard, free_cluster, "review")
    planned = wizard.identity
    # Someone else's device takes the same first 8 characters meanwhile.
    ScstDevice.objects.create(
        cluster=free_cluster,
        name="intruder",
        t10_dev_id=planned[:8] + "-intruder",
        usn="intruder1",
        prod_id="intruder",
    )
    before = rows()
    wizard.post()
    assert wizard.step == "review"
    assert "now clashes with device intruder" in wizard.text
    assert wizard.identity != planned
    assert wizard.identity[:8] != planned[:8]
    assert rows() == before


def test_unknown_run_starts_again(wizard, free_cluster):
    walk_to(wizard, free_cluster, "device")
    before = rows()
    response = wizard.client.post(wizard.url, {"step": "review", "go": "next", "run": "x"})
    assert "could not be found" in response.content.decode()
    assert STEP.search(response.content.decode()).group(1) == "cluster"
    assert rows() == before


def test_entries_changed_behind_the_review_send_back_to_their_step(wizard, free_cluster):
    walk_to(wizard, free_cluster, "review")
    ScstDevice.objects.create(
        cluster=free_cluster,
        name="vmfs1",
        t10_dev_id="ffffffff-vmfs1",
        usn="ffffffff",
        prod_id="vmfs1",
    )
    before = rows()
    wizard.post()
    assert wizard.step == "device"
    assert "store-w already has a device vmfs1." in wizard.text
    assert rows() == before


# --- navigation --------------------------------------------------------------------------


def test_back_and_forward_keep_every_entry_and_the_identity(wizard, free_cluster):
    walk_to(wizard, free_cluster, "luns")
    identity = wizard.identity
    wizard.post(go="back", lun="7")  # typed, not yet valid as a whole: kept anyway
    assert wizard.step == "device"
    assert 'value="vmfs1"' in wizard.text
    assert re.search(r'value="yes"[^>]*checked', wizard.text)
    assert wizard.identity == identity
    wizard.post(go="back")
    assert wizard.step == "resource"
    assert re.search(r'value="r1"[^>]*checked', wizard.text)
    wizard.post(resource="r1")
    wizard.post(**entries(free_cluster)["device"])
    assert wizard.step == "luns"
    assert wizard.identity == identity  # carried, not generated again
    assert re.search(r'name="lun" value="7"', wizard.text)


def test_renaming_the_device_generates_a_new_identity(wizard, free_cluster):
    walk_to(wizard, free_cluster, "luns")
    identity = wizard.identity
    wizard.post(go="back")
    wizard.post(**entries(free_cluster, device={"device_name": "vmfs2"})["device"])
    assert wizard.identity != identity
    assert "vmfs2" in wizard.identity


def test_htmx_steps_swap_only_the_wizard_and_push_the_step_url(wizard, free_cluster):
    data = {"step": "cluster", "go": "next", "run": wizard.run}
    response = wizard.client.post(wizard.url, data, HTTP_HX_REQUEST="true")
    text = response.content.decode()
    assert response["HX-Push-Url"] == f"{wizard.url}?run={wizard.run}&step=resource"
    assert text.lstrip().startswith('<div id="wizard"')
    assert "<html" not in text
    assert "Step 2 of 6: DRBD resource" in text


def test_resource_step_shows_exported_resources_as_unavailable_and_offers_a_new_one(
    wizard, free_cluster
):
    walk_to(wizard, free_cluster, "resource")
    assert "no — exported by lun0" in wizard.text
    assert re.search(r'value="r0"[^>]*disabled', wizard.text)
    assert re.search(r'value="\+new"(?![^>]*disabled)[^>]*>', wizard.text)
    assert "Define a new DRBD resource" in wizard.text
    assert 'name="new_port" value="7801"' in wizard.text  # after r1's 7800
    assert 'name="minor_store-w-n0" value="2"' in wizard.text  # lun0's 0 and r1's 1 taken


def test_viewers_cannot_open_the_wizard(free_cluster):
    client = Client()
    client.force_login(make_user("v", Role.VIEWER, free_cluster))
    assert client.get(reverse("lun-add", args=[free_cluster.name])).status_code == 403


# --- against the lab: the plan ------------------------------------------------------------


@pytest.fixture
def lab_wizard(spare_cluster):
    client = Client()
    client.force_login(make_user("op", Role.OPERATOR, spare_cluster))
    return WizardClient(client, spare_cluster)


def test_resource_step_shows_the_live_dual_primary_state(lab_wizard, spare_cluster):
    walk_to(lab_wizard, spare_cluster, "resource")
    row = lab_wizard.text.split('id="resource-r1"')[1].split("</tr>")[0]
    assert row.count("Primary, UpToDate; peer Connected/Primary") == 2
    assert row.count("dual-primary</span>") == 2
    assert "free" in row


def test_review_plans_the_lun_with_the_identity_it_showed(lab_wizard, spare_cluster):
    walk_to(lab_wizard, spare_cluster, "review")
    shown = REVIEWED_T10.search(lab_wizard.text).group(1)
    assert shown == lab_wizard.identity
    assert f"<code>{shown[:8]}</code>) serve as EUI-64" in lab_wizard.text
    before = rows()
    response = lab_wizard.post()
    job = Job.objects.get(kind=Job.Kind.PLAN)
    assert response.redirect_chain[-1] == (reverse("plan-detail", args=[job.pk]), 302)
    assert job.state == Job.State.SUCCEEDED, job.summary
    spec = job.params["change"]["spec"]
    assert spec["identity"]["t10_dev_id"] == shown
    assert spec["uses_reservations"] is True
    assert spec["lun"] == 1
    assert rows() == (before[0], before[1], before[2] + 1)  # a plan only, no device yet


def test_applying_the_wizard_plan_exports_the_lun_with_that_identity(lab_wizard, spare_cluster):
    walk_to(lab_wizard, spare_cluster, "review")
    shown = lab_wizard.identity
    lab_wizard.post()
    plan_job = Job.objects.get(kind=Job.Kind.PLAN)
    user = plan_job.requested_by
    job = changes.apply_run(changes.apply_create(plan_job, user, "new datastore"))
    assert job.state == Job.State.SUCCEEDED, job.summary
    device = ScstDevice.objects.get(cluster=spare_cluster, name="vmfs1")
    assert (device.t10_dev_id, device.write_through, device.cluster_mode) == (shown, 1, 1)
    assert device.mappings.count() == 2


def test_htmx_review_redirects_the_whole_page_to_the_plan(lab_wizard, spare_cluster):
    walk_to(lab_wizard, spare_cluster, "review")
    data = {"step": "review", "go": "next", "run": lab_wizard.run}
    response = lab_wizard.client.post(lab_wizard.url, data, HTTP_HX_REQUEST="true")
    job = Job.objects.get(kind=Job.Kind.PLAN)
    assert response["HX-Redirect"] == reverse("plan-detail", args=[job.pk])


# --- each step has its URL -------------------------------------------------------------


def test_each_step_has_its_own_url_showing_the_entries_kept(wizard, free_cluster):
    walk_to(wizard, free_cluster, "luns")
    assert wizard.response.redirect_chain[-1][0] == f"{wizard.url}?run={wizard.run}&step=luns"
    identity = wizard.identity
    device_step = wizard.client.get(f"{wizard.url}?run={wizard.run}&step=device")
    text = device_step.content.decode()
    assert STEP.search(text).group(1) == "device"
    assert 'value="vmfs1"' in text
    assert T10.search(text).group(1) == identity


def test_a_step_not_reached_yet_shows_the_furthest_reached(wizard, free_cluster):
    walk_to(wizard, free_cluster, "device")
    text = wizard.client.get(f"{wizard.url}?run={wizard.run}&step=review").content.decode()
    assert STEP.search(text).group(1) == "device"


def test_a_history_restore_gets_the_whole_page(wizard, free_cluster):
    walk_to(wizard, free_cluster, "device")
    headers = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
    url = f"{wizard.url}?run={wizard.run}&step=resource"
    text = wizard.client.get(url, headers=headers).content.decode()
    assert "<html" in text and 'hx-history="false"' in text


def test_runs_are_separate_and_unknown_ones_start_again(wizard, free_cluster):
    walk_to(wizard, free_cluster, "device")
    other = WizardClient(wizard.client, free_cluster)  # a second tab
    assert other.run != wizard.run and other.step == "cluster"
    text = wizard.client.get(f"{wizard.url}?run=gone&step=device").content.decode()
    assert "could not be found" in text and STEP.search(text).group(1) == "cluster"
