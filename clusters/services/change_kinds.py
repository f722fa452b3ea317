"""The changes an operator can plan, as typed objects.

Each kind knows how it changes the inventory (inside the caller's transaction: planning
rolls it back, the apply commits it once every node runs it) and how it is stored in a
plan (`as_json`, with its `kind` string, which the API also speaks).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, ClassVar, cast

from django.core.exceptions import ValidationError

from clusters.models import Cluster, Job, Revision
from clusters.services import inventory

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


@dataclass(frozen=True)
class AddLun:
    """Export a new device (and create its DRBD resource when `new_resource` is set)."""

    kind: ClassVar[str] = "add_lun"
    spec: inventory.LunSpec
    new_resource: inventory.NewResourceSpec | None = None

    def apply_to(self, cluster: Cluster) -> None:
        if self.new_resource is not None:
            inventory.drbd_resource_create(cluster, self.new_resource)
        inventory.lun_create(cluster, self.spec)

    def new_resources(self) -> set[str]:
        """DRBD resources this change creates (only ever on disks confirmed empty)."""
        return {self.new_resource.name} if self.new_resource else set()

    def as_json(self) -> dict:
        data = {"kind": self.kind, "spec": self.spec.as_json()}
        if self.new_resource is not None:
            data["new_resource"] = self.new_resource.as_json()
        return data


@dataclass(frozen=True)
class RemoveMappings:
    """Remove LUN mappings (a device disappears from targets; the device stays)."""

    kind: ClassVar[str] = "remove_mappings"
    mapping_ids: list[int] = field(default_factory=list)

    def apply_to(self, cluster: Cluster) -> None:
        inventory.lun_mapping_remove(cluster, self.mapping_ids)

    def new_resources(self) -> set[str]:
        return set()

    def as_json(self) -> dict:
        return {"kind": self.kind, "mapping_ids": list(self.mapping_ids)}


@dataclass(frozen=True)
class Revert:
    """Return the inventory to what a revision recorded."""

    kind: ClassVar[str] = "revert"
    revision: int

    def apply_to(self, cluster: Cluster) -> None:
        revision = Revision.objects.filter(pk=self.revision, cluster=cluster).first()
        if revision is None:
            raise ValidationError({"revision": f"No revision {self.revision} of {cluster}."})
        inventory.inventory_restore(cluster, revision.inventory)

    def new_resources(self) -> set[str]:
        return set()

    def as_json(self) -> dict:
        return {"kind": self.kind, "revision": self.revision}


@dataclass(frozen=True)
class Enforce:
    """Bring every node back to the inventory (which stays as it is)."""

    kind: ClassVar[str] = "enforce"

    def apply_to(self, cluster: Cluster) -> None:
        pass

    def new_resources(self) -> set[str]:
        return set()

    def as_json(self) -> dict:
        return {"kind": self.kind}


@dataclass(frozen=True)
class Reconcile:
    """Resolve an interrupted apply: `finish` its change, or `roll_back` to the inventory
    as it was (an interrupted apply never committed its change to the inventory)."""

    kind: ClassVar[str] = "reconcile"
    ACTIONS: ClassVar[tuple[str, ...]] = ("finish", "roll_back")
    job: int
    action: str

    def interrupted(self, cluster: Cluster) -> Job:
        job = Job.objects.filter(
            pk=self.job, cluster=cluster, kind=Job.Kind.APPLY, needs_reconcile=True
        ).first()
        if job is None or self.action not in self.ACTIONS:
            raise ValidationError({"job": f"Job {self.job} is not an apply awaiting reconcile."})
        return job

    def original(self, cluster: Cluster):
        """The interrupted apply's own change."""
        from clusters.services.changes import Plan

        plan_job = Job.objects.get(pk=self.interrupted(cluster).params["plan_job"])
        return change_from_json(Plan.from_json(plan_job.params).change)

    def apply_to(self, cluster: Cluster) -> None:
        if self.action == "finish":
            self.original(cluster).apply_to(cluster)
        else:
            self.interrupted(cluster)

    def new_resources(self) -> set[str]:
        return set()  # whatever the interrupted apply created exists now, or not at all

    def as_json(self) -> dict:
        return {"kind": self.kind, "job": self.job, "action": self.action}


@dataclass(frozen=True)
class EditLun:
    """Edit an exported device: its identity and attributes (`values`: field → new value;
    the plan says per node which are runtime sets and which re-create the device), its
    LUN number on every LUN set (`lun`), and the initiators of groups that export it
    (`initiators`: group id → names)."""

    kind: ClassVar[str] = "edit_lun"
    EDITABLE: ClassVar[tuple[str, ...]] = (
        "t10_dev_id",
        "usn",
        "prod_id",
        "cluster_mode",
        "rotational",
    )
    device: str
    values: dict = field(default_factory=dict)
    lun: int | None = None
    initiators: dict = field(default_factory=dict)

    def apply_to(self, cluster: Cluster) -> None:
        inventory.lun_edit(cluster, self.device, self.values, self.lun, self.initiators)

    def new_resources(self) -> set[str]:
        return set()

    def as_json(self) -> dict:
        return {
            "kind": self.kind,
            "device": self.device,
            "values": dict(self.values),
            "lun": self.lun,
            "initiators": {str(k): list(v) for k, v in self.initiators.items()},
        }


Change = AddLun | RemoveMappings | Revert | Enforce | Reconcile | EditLun
KINDS = {kind.kind: kind for kind in (AddLun, RemoveMappings, Revert, Enforce, Reconcile, EditLun)}


# --- day-2 workflows: node command sequences, planned and applied by
# clusters/services/workflows.py (they change no inventory file) ----------------------


class NodeWorkflow:
    """What every workflow shares: it changes no inventory and creates no resource; it is
    stored as its kind and its fields."""

    kind: ClassVar[str]

    def apply_to(self, cluster: Cluster) -> None:
        pass  # node state (sizes, roles, sync) is not in the inventory

    def new_resources(self) -> set[str]:
        return set()

    def as_json(self) -> dict:
        # Every kind below is a dataclass; this base is not (it has no fields).
        return {"kind": self.kind, **asdict(cast("DataclassInstance", self))}


@dataclass(frozen=True)
class GrowLun(NodeWorkflow):
    """Grow a LUN after its backing disks grew on both nodes: `drbdadm resize` on one
    node, then SCST's resync_size on every node's device."""

    kind: ClassVar[str] = "grow_lun"
    device: str


@dataclass(frozen=True)
class VerifyResource(NodeWorkflow):
    """Online verify of a DRBD resource (`drbdadm verify RES`)."""

    kind: ClassVar[str] = "verify_resource"
    resource: str


@dataclass(frozen=True)
class ResyncResource(NodeWorkflow):
    """Resync what a verify found: `drbdadm disconnect RES`, `drbdadm connect RES`."""

    kind: ClassVar[str] = "resync_resource"
    resource: str


@dataclass(frozen=True)
class SplitBrainRecovery(NodeWorkflow):
    """Recover a resource from split brain: VICTIM's writes since the split are discarded."""

    kind: ClassVar[str] = "split_brain_recovery"
    resource: str
    victim: str


@dataclass(frozen=True)
class NodeDrain(NodeWorkflow):
    """Put NODE in maintenance: disable its targets and close its sessions (its initiators
    continue through the peer); with `drbd`, also close its SCST devices, demote and
    disconnect DRBD."""

    kind: ClassVar[str] = "node_drain"
    node: str
    drbd: bool = False


@dataclass(frozen=True)
class NodeReturn(NodeWorkflow):
    """Return NODE from maintenance: reconnect, resync, promote, export, enable."""

    kind: ClassVar[str] = "node_return"
    node: str


Workflow = GrowLun | VerifyResource | ResyncResource | SplitBrainRecovery | NodeDrain | NodeReturn
WORKFLOW_KINDS = {
    kind.kind: kind
    for kind in (
        GrowLun,
        VerifyResource,
        ResyncResource,
        SplitBrainRecovery,
        NodeDrain,
        NodeReturn,
    )
}


def workflow_from_json(data: dict) -> Workflow:
    """The typed workflow of a stored workflow plan; ValidationError if unknown."""
    kind = WORKFLOW_KINDS.get(data.get("kind", ""))
    if kind is None:
        raise ValidationError({"kind": f"Unknown workflow {data.get('kind')!r}."})
    if kind is GrowLun:
        return GrowLun(str(data["device"]))
    if kind is SplitBrainRecovery:
        return SplitBrainRecovery(str(data["resource"]), str(data["victim"]))
    if kind is NodeDrain:
        return NodeDrain(str(data["node"]), bool(data.get("drbd")))
    if kind is NodeReturn:
        return NodeReturn(str(data["node"]))
    by_resource = cast(Callable[[str], Workflow], kind)  # every other kind: resource only
    return by_resource(str(data["resource"]))


def change_from_json(data: dict) -> Change:
    """The typed change of a stored plan or an API request; ValidationError if unknown."""
    kind = KINDS.get(data.get("kind", ""))
    if kind is None:
        raise ValidationError({"kind": f"Unknown change kind {data.get('kind')!r}."})
    if kind is AddLun:
        new = data.get("new_resource")
        return AddLun(
            inventory.LunSpec.from_json(data["spec"]),
            inventory.NewResourceSpec.from_json(new) if new else None,
        )
    if kind is RemoveMappings:
        return RemoveMappings([int(i) for i in data["mapping_ids"]])
    if kind is Revert:
        return Revert(int(data["revision"]))
    if kind is Reconcile:
        return Reconcile(int(data["job"]), str(data["action"]))
    if kind is EditLun:
        values = {k: v for k, v in dict(data.get("values") or {}).items() if k in EditLun.EDITABLE}
        lun = data.get("lun")
        initiators = {
            int(k): [str(n) for n in v] for k, v in (data.get("initiators") or {}).items()
        }
        return EditLun(str(data["device"]), values, None if lun is None else int(lun), initiators)
    return Enforce()
