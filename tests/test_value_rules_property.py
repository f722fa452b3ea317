"""One set of value rules at every door (issue 13), as a property: whatever string reaches
an inventory entry point — the wizard's form and service, the API, the Django admin,
adoption from a lab node, revert — it is either refused with a message naming the field,
and nothing is saved, or accepted and rendered into files that the real `drbdadm -c FILE
dump` and the portal's scst.conf parser read back unchanged."""

import subprocess
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clusters import drbd, scst
from clusters.admin import ScstDeviceForm
from clusters.desired import desired_cluster
from clusters.forms import DeviceStepForm
from clusters.models import DrbdResource, DrbdVolume, Job, Membership, Role, ScstDevice
from clusters.services import adoption, collection, inventory
from lab import api
from tests import records
from tests.factories import make_user
from tests.test_api import token_client

DRBDADM = "/usr/sbin/drbdadm"
HOSTILE = [
    "x}",
    "x{",
    '"x',
    'x"',
    "ab}cd",
    "DEVICE",
    "LUN",
    "HANDLER",
    "/etc/passwd",
    "/dev/../etc/shadow",
    "/dev/sdb;reboot",
    "a;b",
    "#",
    "a#b",
    "\\",
    "a\\#",
    "x\x00",
    "a b",
    "é",
    "",
    "x" * 300,
]
# Arbitrary text, with the characters that matter to scst.conf and drbd.conf made likely.
values = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=30),
    st.text(alphabet='ab09/_.-:;#"\\{} \t\x00', max_size=30),
    st.from_regex(r"[!-~]{1,24}", fullmatch=True),
    st.from_regex(r"/dev/[A-Za-z0-9_.+:=@#{}\"-]{1,20}", fullmatch=True),
)
QUICK = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@contextmanager
def rolled_back():
    """Each example on the same fixture data: whatever it saved is undone."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def field_refusal(exc: ValidationError, field: str) -> None:
    """The refusal names the field (possibly qualified by the object, as revert does)."""
    assert hasattr(exc, "error_dict"), exc
    assert any(key == field or key.endswith(f".{field}") for key in exc.error_dict), exc


def reads_back(
    cluster, expected: Sequence[tuple[str, str, str]] = (), resources: Sequence = ()
) -> None:
    """Render the inventory; the scst.conf parser and real drbdadm read it back unchanged.

    expected: (device, attribute, value) that every node's scst.conf must carry.
    resources: (resource name, disk or None) that every node's .res file must carry.
    """
    for node, want in desired_cluster(cluster).items():
        parsed = scst.parse_config(want.scst_file)
        assert parsed == want.scst_config
        for device, attr, value in expected:
            found = parsed.find_device(device)
            assert found is not None, (device, want.scst_file)
            if attr != "name":
                assert found[1].attributes.get(attr) == value
        for name, disk in resources:
            text = want.drbd_files[f"/etc/drbd.d/{name}.res"]
            dumped = drbdadm_dump(text)
            [res] = [r for r in drbd.parse_dump(dumped) if r.name == name]
            if disk is not None:
                host = next(h for h in res.hosts if h.name == node)
                assert [v.disk for v in host.volumes] == [disk]


def drbdadm_dump(text: str) -> str:
    if not Path(DRBDADM).exists():
        pytest.skip(f"{DRBDADM} is not installed")
    staged = Path(f"/tmp/valid-prop-{id(text)}.res")
    staged.write_text(text)
    try:
        result = subprocess.run(
            [DRBDADM, "-c", str(staged), "dump"], capture_output=True, text=True, check=False
        )
    finally:
        staged.unlink()
    assert result.returncode == 0, result.stderr + text
    return result.stdout


@pytest.fixture
def spare(cluster):
    """A DRBD resource that backs no device yet, on both nodes."""
    resource = DrbdResource.objects.create(cluster=cluster, name="r9", port=7799)
    for node in cluster.nodes.all():
        DrbdVolume.objects.create(
            resource=resource, node=node, minor=9, backing_disk="/dev/vg0/lun9"
        )
    return resource


def lun_spec(cluster, name: str, resource: str = "r9") -> inventory.LunSpec:
    return inventory.LunSpec(
        device_name=name,
        resource=resource,
        identity=inventory.identity_generate(cluster, name),
        lun=9,
        lun_sets=[(t.pk, None) for t in cluster.targets.all()],
    )


# --- the wizard: its form, then its service --------------------------------------------


@QUICK
@given(value=values)
def test_wizard_device_name(cluster, spare, value):
    with rolled_back():
        data = {"device_name": value, "handler": "vdisk_blockio", "uses_reservations": "no"}
        form = DeviceStepForm(data | {"blocksize": "512"}, cluster=cluster)
        if not form.is_valid():
            assert form.errors["device_name"]
            return
        name = form.cleaned_data["device_name"]
        inventory.lun_create(cluster, lun_spec(cluster, name))
        reads_back(cluster, [(name, "name", name)])


@QUICK
@given(name=values, disk=values)
def test_wizard_new_resource_name_and_disk(cluster, name, disk):
    nodes = list(cluster.nodes.order_by("name"))
    spec = inventory.NewResourceSpec(
        name=name, port=7790, volumes=[(n.name, 90 + i, disk) for i, n in enumerate(nodes)]
    )
    with rolled_back():
        try:
            with transaction.atomic():
                inventory.drbd_resource_create(cluster, spec)
        except ValidationError as exc:
            field_refusal(exc, "name" if "name" in exc.message_dict else "backing_disk")
            assert name not in set(cluster.drbd_resources.values_list("name", flat=True))
            return
        reads_back(cluster, resources=[(name, disk)])


# --- the API ----------------------------------------------------------------------------


@QUICK
@given(value=values)
def test_api_add_lun_device_name(cluster, spare, value):
    records.collected(cluster)
    client = token_client(make_user_once("api-operator", cluster))
    body = {
        "change": {
            "kind": "add_lun",
            "spec": {
                "device_name": value,
                "resource": "r9",
                "lun": 9,
                "lun_sets": [{"target": t.pk} for t in cluster.targets.all()],
            },
        },
        "description": "property",
    }
    url = reverse("api:plan-create", args=[cluster.name])
    response = client.post(url, body, format="json")
    assert response.status_code in (201, 400), response.content
    assert value not in set(cluster.devices.values_list("name", flat=True))  # plans save none
    if response.status_code == 400:
        assert "device_name" in response.json().get("change", {}).get("spec", {}) or any(
            "device_name" in line for line in response.json().get("detail", [])
        ), response.json()
        return
    # The API trims blanks as DRF does; the plan carries the name it accepted.
    name = Job.objects.get(pk=response.json()["id"]).params["change"]["spec"]["device_name"]
    with rolled_back():
        inventory.lun_create(cluster, lun_spec(cluster, name))
        reads_back(cluster, [(name, "name", name)])


def make_user_once(username: str, cluster):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(username=username).first()
    return user or make_user(username, Role.OPERATOR, cluster)


# --- the Django admin -------------------------------------------------------------------


@QUICK
@given(field=st.sampled_from(["t10_dev_id", "usn", "prod_id", "t10_vend_id"]), value=values)
def test_admin_device_identity(cluster, field, value):
    device = cluster.devices.get(name="lun0")
    data = {
        "cluster": cluster.pk,
        "name": device.name,
        "handler": device.handler,
        "drbd_resource": device.drbd_resource_id,
        "drbd_volume": 0,
        "t10_dev_id": device.t10_dev_id,
        "usn": device.usn,
        "prod_id": device.prod_id,
        "t10_vend_id": "",
        "eui64_id": "",
        "naa_id": "",
        "nv_cache": 0,
        "write_through": 1,
        "cluster_mode": 0,
        "blocksize": 512,
        "rotational": 1,
    }
    original = getattr(device, field)
    with rolled_back():
        form = ScstDeviceForm(data | {field: value}, instance=device)
        if not form.is_valid():
            assert form.errors[field], form.errors
            assert getattr(ScstDevice.objects.get(pk=device.pk), field) == original
            return
        form.save()
        stored = getattr(ScstDevice.objects.get(pk=device.pk), field)
        reads_back(cluster, [("lun0", field, stored)] if stored else [])


def test_admin_page_names_the_field_and_saves_nothing(client, cluster):
    admin = make_user("root", is_superuser=True, is_staff=True)
    client.force_login(admin)
    device = cluster.devices.get(name="lun0")
    url = reverse("admin:clusters_scstdevice_change", args=[device.pk])
    page = client.get(url)
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data = {k: ("" if v is None else v) for k, v in data.items()}
    for bad in ("x}", "x{", '"x'):
        response = client.post(url, data | {"t10_dev_id": bad})
        assert response.status_code == 200
        assert "t10_dev_id: " in response.content.decode()
        assert ScstDevice.objects.get(pk=device.pk).t10_dev_id == device.t10_dev_id
    volume = DrbdVolume.objects.filter(resource__cluster=cluster).first()
    url = reverse("admin:clusters_drbdvolume_change", args=[volume.pk])
    form = client.get(url).context["adminform"].form
    data = {
        name: ("" if form[name].value() is None else form[name].value()) for name in form.fields
    }
    response = client.post(url, data | {"backing_disk": "/etc/passwd"})
    assert "block device under /dev/" in response.content.decode()
    volume.refresh_from_db()
    assert volume.backing_disk != "/etc/passwd"


def test_a_second_device_on_an_exported_resource_is_refused_everywhere(client, cluster):
    with pytest.raises(ValidationError) as err:
        inventory.lun_create(cluster, lun_spec(cluster, "twin", resource="r0"))
    assert "already backs device lun0" in err.value.message_dict["resource"][0]
    assert not ScstDevice.objects.filter(name="twin").exists()
    device = cluster.devices.get(name="lun0")
    form = ScstDeviceForm(
        {
            "cluster": cluster.pk,
            "name": "twin",
            "handler": "vdisk_blockio",
            "drbd_resource": device.drbd_resource_id,
            "drbd_volume": 0,
            "t10_dev_id": "feedbeef-twin",
            "usn": "feedbeef",
            "prod_id": "twin",
            "nv_cache": 0,
            "write_through": 1,
            "cluster_mode": 0,
            "blocksize": 512,
            "rotational": 1,
        }
    )
    assert not form.is_valid()
    assert "one backing device" in form.errors["drbd_resource"][0]


@pytest.mark.parametrize("name", ["DEVICE", "LUN", "HANDLER", "TARGET"])
def test_keyword_device_names_are_a_400(cluster, name):
    records.collected(cluster)
    resource = DrbdResource.objects.create(cluster=cluster, name="r8", port=7798)
    client = token_client(make_user("op", Role.OPERATOR, cluster))
    target = cluster.targets.first()
    body = {
        "change": {
            "kind": "add_lun",
            "spec": {
                "device_name": name,
                "resource": resource.name,
                "lun": 8,
                "lun_sets": [{"target": target.pk}],
            },
        },
        "description": "x",
    }
    response = client.post(reverse("api:plan-create", args=[cluster.name]), body, format="json")
    assert response.status_code == 400
    assert "keyword" in str(response.json())


def test_an_unknown_target_is_a_400_naming_the_lun_sets(cluster, spare):
    records.collected(cluster)
    client = token_client(make_user("op", Role.OPERATOR, cluster))
    body = {
        "change": {
            "kind": "add_lun",
            "spec": {"device_name": "x", "resource": "r9", "lun": 8, "lun_sets": [{"target": 999}]},
        },
        "description": "x",
    }
    response = client.post(reverse("api:plan-create", args=[cluster.name]), body, format="json")
    assert response.status_code == 400
    assert "lun_sets" in response.json()["fields"]


# --- revert -------------------------------------------------------------------------------

REVERT_FIELDS = ["device.name", "device.t10_dev_id", "device.usn", "resource.name", "disk"]


@QUICK
@given(where=st.sampled_from(REVERT_FIELDS), value=values)
def test_revert(cluster, where, value):
    data = inventory.inventory_export(cluster)
    if where == "resource.name":
        data["resources"][0]["name"] = value
        for device in data["devices"]:
            device["resource"] = value
    elif where == "disk":
        for volume in data["resources"][0]["volumes"]:
            volume[3] = value
    else:
        field = where.split(".")[1]
        old = data["devices"][0][field]
        data["devices"][0][field] = value
        if field == "name":
            for target in data["targets"]:
                target["luns"] = [[g, n, value if d == old else d] for g, n, d in target["luns"]]
    before = inventory.inventory_export(cluster)
    with rolled_back():
        try:
            with transaction.atomic():
                inventory.inventory_restore(cluster, data)
        except ValidationError as exc:
            field = {"disk": "backing_disk", "resource.name": "name"}.get(where, where[7:])
            field_refusal(exc, field)
            assert inventory.inventory_export(cluster) == before  # nothing saved
            return
        device = data["devices"][0]
        expected = [(device["name"], "t10_dev_id", device["t10_dev_id"])]
        expected.append((device["name"], "usn", device["usn"]))
        disk = data["resources"][0]["volumes"][0][3]
        reads_back(cluster, expected, resources=[(data["resources"][0]["name"], disk)])


# --- adoption from a lab node ---------------------------------------------------------------

# What a node may report: one line of anything, braces and quotes included.
live_values = st.one_of(
    st.sampled_from(["ab}cd", "x{", '"x', 'a"b', "a;b", "#x", "a\\b", "é"]),
    st.text(
        alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\n\r\x00"),
        min_size=1,
        max_size=24,
    ),
)


@pytest.fixture
def adopted_lab(lab, db):
    from tests.test_adopt_cluster import approve_keys_and_collect, register

    admin = make_user("lab-admin")
    Membership.objects.create(user=admin, cluster=None, role=Role.ADMIN)
    cluster = register(lab, admin)
    approve_keys_and_collect(cluster, admin)
    return lab, cluster, admin


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(value=live_values)
def test_adoption_of_a_live_t10_dev_id(adopted_lab, value):
    from clusters.services.facts import cluster_facts

    lab, cluster, admin = adopted_lab
    for node in cluster.nodes.all():
        api.set_device_attr(lab.dir, node.name, "r0", "t10_dev_id", value)
    collection.collection_run(collection.collection_create(cluster, admin))
    with rolled_back():
        report = adoption.inventory_adopt(cluster, admin)
        device = ScstDevice.objects.filter(cluster=cluster, name="r0").first()
        if device is None:
            assert any(
                line.startswith("device 'r0'") and "t10_dev_id" in line for line in report.skipped
            ), report.skipped
        else:
            facts = cluster_facts(cluster)
            live = facts.nodes[0].device_attribute("r0", "t10_dev_id").value
            assert device.t10_dev_id == live
            reads_back(cluster, [("r0", "t10_dev_id", live)])


@pytest.mark.parametrize("name", ["skip", "protocol", "on", "resource", "1.2.3.4"])
def test_drbdadm_keywords_as_names_are_quoted_and_read_back(cluster, name):
    """Found by test_revert: a resource called `skip` was written bare and drbdadm read a
    keyword. Keywords (and IPv4-like names) are quoted, which drbdadm reads as a string."""
    spec = inventory.NewResourceSpec(
        name=name,
        port=7790,
        volumes=[(n.name, 90 + i, "/dev/vg0/new") for i, n in enumerate(cluster.nodes.all())],
    )
    with rolled_back():
        try:
            inventory.drbd_resource_create(cluster, spec)
        except ValidationError as exc:
            field_refusal(exc, "name")
            return
        reads_back(cluster, resources=[(name, "/dev/vg0/new")])
