"""The add-LUN wizard's state: steps, the draft, choices offered, and the change it
builds. The view (clusters/views/wizard.py) only renders it.

Every step's entries are kept server-side in the user's session, one draft per wizard
run (the run's id and the step are in the page's URL), so the wizard's Back and Next and
the browser's back and forward buttons all show the entries as they were; nothing enters
the inventory before the plan. The SCSI identity is generated once, when the device step
is passed, and carried unchanged to the plan (DESIGN: identity never changes); only
renaming the device, or a clash found at review, makes a new one.
"""

import secrets
from dataclasses import dataclass

from django import forms

from clusters.forms import (
    NEW_RESOURCE,
    DeviceStepForm,
    LunStepForm,
    MultipathStepForm,
    ResourceStepForm,
)
from clusters.models import Cluster, DrbdResource, LunMapping, ScstDevice, Target
from clusters.services import inventory
from clusters.services.allocation import (
    LunSet,
    lowest_free_lun,
    lowest_free_minor,
    next_free_port,
)
from clusters.services.change_kinds import AddLun
from clusters.services.facts import latest_snapshots, node_facts_for

STEPS = ("cluster", "resource", "device", "luns", "multipath", "review")
SESSION_KEY = "lun_wizard_runs"
RUNS_KEPT = 5
TITLES = {
    "cluster": "Cluster",
    "resource": "DRBD resource",
    "device": "Device",
    "luns": "LUN sets and number",
    "multipath": "Multipath",
    "review": "Review",
}
FORMS = {
    "resource": ResourceStepForm,
    "device": DeviceStepForm,
    "luns": LunStepForm,
    "multipath": MultipathStepForm,
}


@dataclass
class ResourceRow:
    name: str
    volumes: list[str]
    exported_by: list[str]
    live: list[tuple[str, str, list[str]]]  # (node, state summary, dual-primary problems)

    @property
    def free(self) -> bool:
        return not self.exported_by

    @property
    def healthy(self) -> bool:
        return bool(self.live) and all(summary and not p for _, summary, p in self.live)


def lun_sets_of(cluster: Cluster) -> list[LunSet]:
    sets = []
    targets = Target.objects.filter(cluster=cluster).select_related("node")
    for target in targets.prefetch_related("groups").order_by("node__name", "name"):
        where = f"{target.node.name}: {target.name}"
        sets.append(LunSet(f"{target.pk}", target.node.name, target.pk, None, None, where))
        for group in target.groups.all():
            sets.append(
                LunSet(
                    f"{target.pk}-{group.pk}",
                    target.node.name,
                    target.pk,
                    group.pk,
                    group.name,
                    f"{where} group {group.name}",
                )
            )
    by_key = {(s.target_id, s.group_id): s for s in sets}
    mappings = LunMapping.objects.filter(target__cluster=cluster).select_related("device")
    for m in mappings:
        by_key[(m.target_id, m.group_id)].used[m.lun] = f"device {m.device.name}"
    return sets


def default_lun_sets(sets: list[LunSet]) -> list[str]:
    """One set per node: a group name every node has, else each node's first default set."""
    nodes = sorted({s.node for s in sets})
    for name in sorted({s.group_name for s in sets if s.group_name}):
        chosen: dict[str, str] = {}
        for s in sets:
            if s.group_name == name:
                chosen.setdefault(s.node, s.code)
        if len(chosen) == len(nodes):
            return list(chosen.values())
    chosen = {}
    for s in sets:
        if s.group_id is None:
            chosen.setdefault(s.node, s.code)
    return list(chosen.values())


def resource_rows(cluster: Cluster) -> list[ResourceRow]:
    """Every DRBD resource, who exports it, and its state on each node's latest snapshot."""
    facts = [node_facts_for(s[0]) for s in latest_snapshots(cluster).values() if s]
    rows = []
    resources = DrbdResource.objects.filter(cluster=cluster).prefetch_related(
        "volumes__node", "devices"
    )
    for res in resources:
        live = []
        for f in facts:
            state = (f.drbd_status or {}).get(res.name) if f.has_data else None
            if state is None:
                why = "no data" if not f.has_data else "not running"
                live.append((f.name, "", [why]))
                continue
            peers = ", ".join(f"{p.connection}/{p.role}" for p in state.peers) or "no peer"
            disks = ", ".join(d.disk for d in state.devices) or "no volume"
            summary = f"{state.role}, {disks}; peer {peers}"
            live.append((f.name, summary, state.dual_primary_problems()))
        rows.append(
            ResourceRow(
                res.name,
                [f"{v.node.name}: {v.device}" for v in res.volumes.all()],
                [d.name for d in res.devices.all()],
                live,
            )
        )
    return rows


class LunWizard:
    """The draft of one wizard run: raw entries per step plus the generated identity."""

    def __init__(self, cluster: Cluster, user, draft: dict) -> None:
        self.cluster, self.user, self.draft = cluster, user, draft
        self.run, self.reached = "", STEPS[0]
        self.errors: list[str] = []
        self._sets: list[LunSet] | None = None
        self._rows: list[ResourceRow] | None = None

    # -- the draft, kept in the session under the run's id
    @classmethod
    def start(cls, cluster: Cluster, user, session) -> "LunWizard":
        """A new run with an empty draft (opening the wizard from the cluster page)."""
        wizard = cls(cluster, user, {})
        wizard.run = secrets.token_urlsafe(9)
        wizard.save(session)
        return wizard

    @classmethod
    def resume(cls, cluster: Cluster, user, session, run: str) -> "LunWizard":
        """The run's draft; an unknown run (expired, another session or cluster) starts a
        new one and says so."""
        stored = session.get(SESSION_KEY, {}).get(run)
        if stored is None or stored.get("cluster") != cluster.pk:
            wizard = cls.start(cluster, user, session)
            wizard.errors.append(
                "The wizard's entries could not be found (expired, or from another session "
                "or cluster); start again from the first step."
            )
            return wizard
        wizard = cls(cluster, user, stored["draft"])
        wizard.run, wizard.reached = run, stored["reached"]
        return wizard

    def save(self, session) -> None:
        """Store the draft; a session keeps its RUNS_KEPT most recent runs."""
        runs = dict(session.get(SESSION_KEY, {}))
        runs.pop(self.run, None)
        runs[self.run] = {"cluster": self.cluster.pk, "draft": self.draft, "reached": self.reached}
        session[SESSION_KEY] = dict(list(runs.items())[-RUNS_KEPT:])

    def reach(self, step: str) -> str:
        """Move to `step`, remembering the furthest step this run has reached."""
        if STEPS.index(step) > STEPS.index(self.reached):
            self.reached = step
        return step

    def allowed(self, step: str | None) -> str:
        """The step a URL asks for, if this run has reached it; else the furthest reached."""
        if step in STEPS and STEPS.index(step) <= STEPS.index(self.reached):
            return step
        return self.reached

    # -- data the steps show
    @property
    def lun_sets(self) -> list[LunSet]:
        if self._sets is None:
            self._sets = lun_sets_of(self.cluster)
        return self._sets

    @property
    def resources(self) -> list[ResourceRow]:
        if self._rows is None:
            self._rows = resource_rows(self.cluster)
        return self._rows

    def form(self, step: str, data=None) -> forms.Form | None:
        kwargs = {"data": data}
        if data is None:
            kwargs = {"initial": self.draft.get(step) or self.initial(step)}
        if step == "resource":
            free = [r.name for r in self.resources if r.free]
            return ResourceStepForm(free=free, cluster=self.cluster, **kwargs)
        if step == "device":
            return DeviceStepForm(cluster=self.cluster, **kwargs)
        if step == "luns":
            return LunStepForm(lun_sets=self.lun_sets, **kwargs)
        if step == "multipath":
            return MultipathStepForm(**kwargs)
        return None

    def initial(self, step: str) -> dict:
        if step == "resource":
            nodes = self.cluster.nodes.all()
            return {"new_port": next_free_port(self.cluster)} | {
                f"minor_{n.name}": lowest_free_minor(n) for n in nodes
            }
        if step != "luns":
            return {}
        codes = default_lun_sets(self.lun_sets)
        chosen = [s for s in self.lun_sets if s.code in codes]
        return {"lun_sets": codes, "lun": lowest_free_lun(chosen) if chosen else 0}

    def keep(self, step: str, post) -> None:
        """Remember a step's entries as typed (valid or not) so that they are shown again."""
        if step not in FORMS:
            return
        form = self.form(step)
        if form is None:  # every step in FORMS has one
            return
        entries = {}
        for name, formfield in form.fields.items():
            if isinstance(formfield, forms.MultipleChoiceField):
                entries[name] = post.getlist(name)
            elif name in post:
                entries[name] = post.get(name)
        self.draft[step] = entries

    def check(self, step: str, form: forms.Form) -> bool:
        """Checks of a valid step beyond its form. A new resource's backing disks are read
        on the nodes (exist, block devices, equal size) by the plan job, not here: no
        request talks to a node."""
        return True

    def accept(self, step: str, form: forms.Form) -> None:
        self.keep(step, form.data)
        if step == "device":
            name = form.cleaned_data["device_name"]
            if not self.draft.get("identity") or self.draft.get("identity_for") != name:
                self.identity_new(name)

    def identity_new(self, name: str) -> None:
        self.draft["identity"] = inventory.identity_generate(self.cluster, name)
        self.draft["identity_for"] = name

    # -- review
    def cleaned(self) -> tuple[str | None, dict]:
        """Every step re-validated from the draft: (first invalid step or None, values)."""
        values: dict = {}
        for step in FORMS:
            form = self.form(step, self.draft.get(step, {}))
            if form is None or not form.is_valid():  # (every step in FORMS has a form)
                return step, values
            values.update(form.cleaned_data)
        return None, values

    def identity_clash(self) -> str:
        """Why the carried identity can no longer be used (another device took it), or ''."""
        identity = self.draft.get("identity") or {}
        devices = ScstDevice.objects.filter(cluster=self.cluster)
        prefix = identity.get("t10_dev_id", "")[:8]
        clash = devices.filter(t10_dev_id__startswith=prefix).first()
        if clash is None:
            clash = devices.filter(usn=identity.get("usn")).first()
        if clash is None:
            return ""
        return (
            f"The identity generated for this device now clashes with device {clash.name} "
            f"(t10_dev_id {clash.t10_dev_id}, usn {clash.usn}): ESXi and Hyper-V compare only "
            "the first 8 characters and would merge the LUNs. A new identity was generated; "
            "review it and plan again."
        )

    def change(self, values: dict) -> AddLun:
        """The add_lun change: the LUN's spec, and the new resource's if one is defined."""
        new = values.get("new_resource")
        return AddLun(self.spec(values), inventory.NewResourceSpec.from_json(new) if new else None)

    def spec(self, values: dict) -> inventory.LunSpec:
        sets = {s.code: s for s in self.lun_sets}
        return inventory.LunSpec(
            device_name=values["device_name"],
            resource=values["resource"],
            handler=values["handler"],
            uses_reservations=values["uses_reservations"] == "yes",
            blocksize=values["blocksize"],
            identity=self.draft["identity"],
            lun=values["lun"],
            lun_sets=[(sets[c].target_id, sets[c].group_id) for c in values["lun_sets"]],
        )

    def summary(self) -> list[tuple[str, str]]:
        """The entries so far, for the side panel."""
        d = self.draft
        rows = [("Cluster", self.cluster.name)]
        resource = d.get("resource", {})
        if resource.get("resource") == NEW_RESOURCE:
            where = f"new, port {resource.get('new_port', '?')}"
            rows.append(("DRBD resource", f"{resource.get('new_name') or '?'} ({where})"))
        elif resource.get("resource"):
            rows.append(("DRBD resource", resource["resource"]))
        device = d.get("device", {})
        if device.get("device_name"):
            rows.append(("Device", f"{device['device_name']} ({device.get('handler', '')})"))
            rows.append(("SCSI reservations", device.get("uses_reservations") or "not answered"))
            rows.append(("Block size", device.get("blocksize", "")))
        luns = d.get("luns", {})
        if luns.get("lun_sets"):
            labels = [s.label for s in self.lun_sets if s.code in luns["lun_sets"]]
            rows.append((f"LUN {luns.get('lun', '?')} in", "; ".join(labels)))
        if d.get("multipath", {}).get("multipath_ack"):
            rows.append(("Multipath", "MRU or Fixed, acknowledged"))
        return rows


def previous_step(step: str) -> str:
    return STEPS[max(STEPS.index(step) - 1, 0)]


def next_step(step: str) -> str:
    return STEPS[min(STEPS.index(step) + 1, len(STEPS) - 1)]
