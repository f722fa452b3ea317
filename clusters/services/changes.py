"""Safe changes: plan (a job: collect fresh, diff, compliance, interlocks) → apply (a job:
lock, collect fresh, re-judge, stage, validate, apply node by node, verify by reading
values back, roll back) → revision.

A plan is what the operator approves: per node, the files to install and what each
change does on the running node (a runtime attribute set, a device re-creation, a
`drbdadm adjust`). The apply recomputes the plan under the cluster's lock on facts it
collects itself and refuses unless it is still that plan, every interlock still passes
and the plan has not expired. The inventory is committed only once every node runs the
change.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import shlex
from collections.abc import Set as AbstractSet
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timedelta

from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from clusters import access, audit, collect, compare, compliance, drbd, locks, probe, push, scst
from clusters.compliance.drift_rules import resource_differences, scst_differences
from clusters.desired import desired_cluster
from clusters.facts import COPY_MANAGER_DRIVER, ClusterFacts, DesiredNode, NodeFacts, node_facts
from clusters.models import Cluster, Finding, Job, Node, Revision, Role
from clusters.paths import DRBD_DIR, SCST_CONF, resource_file, resource_of
from clusters.scst.attributes import RUNTIME_ATTRIBUTES
from clusters.services import collection, inventory, jobs
from clusters.services.change_kinds import (
    Change,
    Enforce,
    NodeDrain,
    NodeReturn,
    Reconcile,
    Workflow,
    change_from_json,
)
from clusters.services.facts import cluster_facts

BLOCKING_DRIFT = ("DRIFT_SCST", "DRIFT_DRBD", "CONFIG_FILE_DIFFERS")
FOREIGN = ("FOREIGN_DRBD_FILE", "SCST_UNMODELLED")
NOTHING_TO_CHANGE = "Nothing to change: every node already runs this configuration."


class PlanRefused(Exception):
    """The change cannot be planned or applied now; the message says why."""


@dataclass
class FileChange:
    path: str
    before: str
    after: str

    @property
    def diff(self) -> str:
        return "".join(
            difflib.unified_diff(
                self.before.splitlines(keepends=True),
                self.after.splitlines(keepends=True),
                fromfile=f"{self.path} (live)",
                tofile=f"{self.path} (planned)",
            )
        )


@dataclass
class AttributePlan:
    """One device attribute the plan changes on one node, and how."""

    device: str
    attribute: str
    live: str | None
    wanted: str
    runtime: bool  # scstadmin -set_dev_attr; else the device is re-created

    @property
    def kind(self) -> str:
        return "runtime set" if self.runtime else "re-creation"


@dataclass
class NodePlan:
    node: str
    files: list[FileChange] = field(default_factory=list)
    drbd_adjust: list[str] = field(default_factory=list)  # changed: drbdadm adjust
    new_drbd_resources: list[str] = field(default_factory=list)  # created: create-md, up
    runtime_sets: dict[str, dict[str, str]] = field(default_factory=dict)
    runtime_restore: dict[str, dict[str, str]] = field(default_factory=dict)
    scst_reload: bool = False
    scst_force: bool = False
    recreated_devices: list[str] = field(default_factory=list)
    # README.dlm order: [driver, target] disabled around this node's cluster_mode writes,
    # and the live devices they export (the other node serves them meanwhile).
    dlm_targets: list[list[str]] = field(default_factory=list)
    dlm_paths: list[str] = field(default_factory=list)
    attributes: list[AttributePlan] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def changes_anything(self) -> bool:
        return bool(self.files or self.drbd_adjust or self.runtime_sets or self.scst_reload)

    def signature(self) -> str:
        """What the operator approved for this node: files, their diffs and each action."""
        data = asdict(self)
        data.pop("warnings")
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()

    @classmethod
    def from_json(cls, data: dict) -> NodePlan:
        data = dict(data)
        # Plans stored before the change path knew runtime sets and re-creation.
        if "drbd_resources" in data:
            data.setdefault("drbd_adjust", data.pop("drbd_resources"))
        if "scst_changed" in data:
            data.setdefault("scst_reload", data.pop("scst_changed"))
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        data["files"] = [FileChange(**f) for f in data.get("files", [])]
        data["attributes"] = [AttributePlan(**a) for a in data.get("attributes", [])]
        return cls(**data)


@dataclass
class Plan:
    description: str
    change: dict
    nodes: list[NodePlan] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    findings: list[dict] = field(default_factory=list)
    fingerprint: str = ""
    planned_at: str = ""
    expires_at: str = ""

    def __post_init__(self) -> None:
        # Set by plan_compute for the apply that recomputed it: not a field, never stored.
        self.computed_desired: dict[str, DesiredNode] | None = None

    @property
    def warnings(self) -> list[str]:
        return [w for n in self.nodes for w in n.warnings]

    @property
    def expires(self) -> datetime | None:
        return parse_datetime(self.expires_at) if self.expires_at else None

    def signatures(self) -> dict[str, str]:
        return {n.node: n.signature() for n in self.nodes if n.changes_anything}

    @classmethod
    def from_json(cls, data: dict) -> Plan:
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        nodes = [NodePlan.from_json(n) for n in data.get("nodes", [])]
        return cls(**{**data, "nodes": nodes})


# --- the change, applied to the inventory ---------------------------------------------


def desired_after(cluster: Cluster, change: Change) -> dict[str, DesiredNode]:
    """The desired state with the change applied, computed and rolled back."""
    with transaction.atomic():
        change.apply_to(cluster)
        desired = desired_cluster(cluster)
        transaction.set_rollback(True)
    return desired


def fingerprint(desired: dict[str, DesiredNode]) -> str:
    files = {name: {SCST_CONF: d.scst_file, **d.drbd_files} for name, d in sorted(desired.items())}
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()


# --- what one node needs ------------------------------------------------------------------


def with_copy_manager(config: scst.ScstConfig, running: scst.ScstConfig | None) -> scst.ScstConfig:
    """The config to push, carrying over the node's copy_manager section as it runs.

    SCST maps every device on its built-in copy_manager target by itself; `scstadmin
    -force -config` with a file lacking that section would remove those LUNs
    (scstadmin applyConfigAssignments), so the file keeps them.
    """
    if running is None or COPY_MANAGER_DRIVER not in running.drivers:
        return config
    drivers = {COPY_MANAGER_DRIVER: running.drivers[COPY_MANAGER_DRIVER], **config.drivers}
    return scst.ScstConfig(
        config.attributes, config.handlers, drivers, config.alua, config.device_groups
    )


def _render_drbd(config, version: str) -> str:
    try:
        return drbd.render_resource(config, version) if config else ""
    except drbd.DrbdConfigError:
        return "# the running resource cannot be rendered; see drbdadm dump\n"


def _only_additions(node: NodeFacts, want: scst.ScstConfig) -> bool:
    """True when every running difference is a device or LUN the change adds (or a
    runtime attribute set before `-config`): scstadmin -config needs no -force then."""
    for ref, details in scst_differences(node, want):
        for detail in details:
            text = detail.text
            added = text.endswith("is missing") or " is absent, inventory says " in text
            runtime = text.split(" ", 1)[0] in RUNTIME_ATTRIBUTES
            if not (added or (ref.startswith("device:") and runtime)):
                return False
    return True


def scst_plan(plan: NodePlan, node: NodeFacts, desired: DesiredNode) -> None:
    """Runtime sets, re-creations and whether scstadmin -config must run (and -force)."""
    want = desired.scst_config
    for change in compare.device_attribute_changes(node, want):
        plan.attributes.append(
            AttributePlan(
                change.device, change.attribute, change.live, change.wanted, change.runtime
            )
        )
        if change.runtime:
            plan.runtime_sets.setdefault(change.device, {})[change.attribute] = change.wanted
            if change.live is not None:
                plan.runtime_restore.setdefault(change.device, {})[change.attribute] = change.live
        elif change.device not in plan.recreated_devices:
            plan.recreated_devices.append(change.device)
    for device, _live, _wanted in compare.handler_changes(node, want):
        if device not in plan.recreated_devices:
            plan.recreated_devices.append(device)
    plan.recreated_devices.sort()
    plan.scst_reload = any(True for _ in scst_differences(node, want))
    plan.scst_force = plan.scst_reload and (
        bool(plan.recreated_devices) or not _only_additions(node, want)
    )
    for device in plan.recreated_devices:
        plan.warnings.append(_path_loss_warning(node, device))
    if plan.scst_force:
        plan.warnings += _removal_warnings(node, want)
    dlm_plan(plan, node, want)


# --- README.dlm: targets disabled while cluster_mode is written ---------------------------


def _runs_device(node: NodeFacts, device: str) -> bool:
    if node.scst_live is not None:
        return device in node.scst_live.devices
    return node.scst_config is not None and node.scst_config.find_device(device) is not None


def cluster_mode_writes(plan: NodePlan, node: NodeFacts, want: scst.ScstConfig) -> list[str]:
    """Devices whose cluster_mode this node's apply writes: a runtime set of it, or a
    device created or re-created with cluster_mode 1 (opening it joins the lockspace)."""
    written = {d for d, values in plan.runtime_sets.items() if "cluster_mode" in values}
    for handler in want.handlers.values():
        for name, device in handler.devices.items():
            created = not _runs_device(node, name) or name in plan.recreated_devices
            if created and device.attributes.get("cluster_mode") == "1":
                written.add(name)
    return sorted(written)


def _exporting(node: NodeFacts, want: scst.ScstConfig, devices: set[str]) -> set[tuple[str, str]]:
    """(driver, target) exporting any of DEVICES now or in the planned configuration."""
    found = {(d, t) for d, t, _g, _n, dev in node.exported_luns() if dev in devices}
    for driver in want.drivers.values():
        if driver.name == COPY_MANAGER_DRIVER:
            continue
        for target in driver.targets.values():
            luns = [
                *target.luns.values(),
                *(n for g in target.groups.values() for n in g.luns.values()),
            ]
            if any(lun.device in devices for lun in luns):
                found.add((driver.name, target.name))
    return found


def dlm_plan(plan: NodePlan, node: NodeFacts, want: scst.ScstConfig) -> None:
    """README.dlm ("Startup and shutdown ordering"): target ports are disabled while
    cluster_mode is written (on: configure with the ports disabled, enable them after;
    off: disable the ports first). Only targets enabled now are disabled, and enabled again."""
    devices = cluster_mode_writes(plan, node, want)
    if not devices:
        return
    targets = sorted(
        (d, t) for d, t in _exporting(node, want, set(devices)) if _target_enabled(node, t)
    )
    if not targets:
        return
    names = {t for _, t in targets}
    plan.dlm_targets = [[d, t] for d, t in targets]
    plan.dlm_paths = sorted(
        {dev for _d, t, _g, _n, dev in node.exported_luns() if t in names and dev}
    )
    seeing = sorted({s.initiator_name or s.name for t, s in node.sessions() if t in names})
    plan.warnings.append(
        f"{node.name}: cluster_mode of {', '.join(devices)} is written, so in README.dlm's "
        f"order the targets exporting it on {node.name} ({', '.join(sorted(names))}) are "
        "disabled first (`scstadmin -disable_target`), cluster_mode is set, and they are "
        "enabled again after (`scstadmin -enable_target`). Initiators lose the path through "
        f"{node.name} meanwhile (no login is accepted, and SCST suspends I/O while "
        "cluster_mode switches): "
        + (f"logged in: {', '.join(seeing)}." if seeing else "no initiator is logged in.")
        + " The other node must serve "
        + (", ".join(plan.dlm_paths) or "them")
        + " meanwhile (checked before the step)."
    )


def _path_loss_warning(node: NodeFacts, device: str) -> str:
    seeing = node.sessions_seeing(device)
    who = ", ".join(
        f"{s.initiator_name or s.name} (LUN {', '.join(map(str, numbers))} on {target})"
        for target, s, numbers in seeing
    )
    return (
        f"{node.name}: {device} is re-created (a creation attribute changes), so its LUNs "
        f"leave {node.name}'s targets for a moment; "
        + (f"logged-in initiators lose this path: {who}." if who else "no initiator is logged in.")
        + " The other node must serve them meanwhile (checked before the step)."
    )


def _removal_warnings(node: NodeFacts, want: scst.ScstConfig) -> list[str]:
    """Initiators logged in to LUNs the change removes from this node."""
    wanted = {
        (t.name, n)
        for d in want.drivers.values()
        for t in d.targets.values()
        for n in [*t.luns, *(n for g in t.groups.values() for n in g.luns)]
    }
    warnings = []
    for _driver, target, _group, number, device in node.exported_luns():
        if (target, number) in wanted:
            continue
        seeing = [s.initiator_name or s.name for t, s, nums in node.sessions_seeing(device)]
        if seeing:
            warnings.append(
                f"{node.name}: LUN {number} ({device}) on {target} is removed while "
                f"{', '.join(sorted(set(seeing)))} is logged in and sees it."
            )
    return warnings


def file_plan(
    plan: NodePlan, node: NodeFacts, desired: DesiredNode, version: str, new: AbstractSet[str]
):
    """Which files to install: SCST's when it must run or when the file on disk would
    load something else than the inventory; a .res when it or what runs differs."""
    scst_text = scst.render_config(with_copy_manager(desired.scst_config, node.scst_config))
    live_text = scst.render_config(node.scst_config) if node.scst_config else ""
    file_off = node.scst_file_config is not None and bool(
        compare.scst_config_differences(
            node.scst_file_config, with_copy_manager(desired.scst_config, node.scst_config)
        )
    )
    if node.scst_file is not None and node.scst_file_config is None:
        file_off = True  # unparseable: SCST would not load it either
    if plan.scst_reload or file_off:
        plan.files.append(FileChange(SCST_CONF, live_text, scst_text))
        if file_off and not plan.scst_reload:
            plan.warnings.append(
                f"{node.name}: {SCST_CONF} on disk differs from what runs; the inventory's "
                "file replaces it (nothing is reloaded: the running configuration is right)."
            )
    for path, after in sorted(desired.drbd_files.items()):
        name = resource_of(path) or path
        config = (node.drbd_config or {}).get(name)
        before = _render_drbd(config, version)
        if name in new:
            plan.files.append(FileChange(path, before, after))
            plan.new_drbd_resources.append(name)
            continue
        wanted = desired.drbd_resources.get(name)
        running_off = wanted is not None and bool(
            compare.drbd_running_differences(node, name, wanted)
        )
        if before != after:
            plan.files.append(FileChange(path, before, after))
        if before != after or running_off:
            plan.drbd_adjust.append(name)


def node_plan(
    node: NodeFacts, desired: DesiredNode, version: str, new: AbstractSet[str] = frozenset()
) -> NodePlan:
    plan = NodePlan(node.name)
    scst_plan(plan, node, desired)
    file_plan(plan, node, desired, version, new)
    plan.files.sort(key=lambda f: f.path)
    return plan


# --- interlocks ---------------------------------------------------------------------------


def new_resource_interlocks(cluster: Cluster, facts: ClusterFacts, new: set[str], change) -> list:
    """A new resource must not exist on any node yet: not running, not configured, no
    file of its name, its minors free; create-md would otherwise destroy live meta data."""
    if not new:
        return []
    reasons = []
    if cluster.drbd_version == "8.4":
        # The creation sequence reads `drbdsetup status --json`, which DRBD 8.4 lacks.
        reasons.append("New DRBD resources are created on DRBD 9 clusters only.")
    spec = change.new_resource
    minors = {node: minor for node, minor, _ in spec.volumes}
    for node in facts.with_data():
        if spec.name in (node.drbd_status or {}) or spec.name in (node.drbd_config or {}):
            reasons.append(f"{node.name}: a DRBD resource {spec.name} already exists on the node.")
        if resource_file(spec.name) in (node.drbd_files or {}):
            reasons.append(f"{node.name}: {resource_file(spec.name)} already exists on the node.")
        for other in (node.drbd_status or {}).values():
            if any(d.minor == minors.get(node.name) for d in other.devices):
                reasons.append(
                    f"{node.name}: minor {minors[node.name]} is in use by DRBD {other.name}."
                )
    return reasons


def disk_refusals(cluster: Cluster, change: Change) -> list[str]:
    """A new resource's backing disks, read on the nodes now (the worker's job, never a
    request's): each a block device under /dev/, all of one size within 1 MiB."""
    spec = getattr(change, "new_resource", None)
    if spec is None:
        return []
    nodes = {n.name: n for n in Node.objects.filter(cluster=cluster).select_related("credential")}
    pairs = [
        (collection.endpoint_for(nodes[node]), disk)
        for node, _minor, disk in spec.volumes
        if node in nodes
    ]
    return probe.disk_size_problems(async_to_sync(probe.disk_sizes)(pairs))


def pacemaker_interlocks(facts: ClusterFacts, resources: set[str], commands: str) -> list[str]:
    """A DRBD resource Pacemaker manages (an ocf:linbit:drbd primitive in the CIB) has its
    role and its up/down set by Pacemaker: the portal never runs `drbdadm primary`,
    `secondary`, `up` or `down` on it, or it would fight the cluster manager."""
    reasons = []
    for node in facts.with_data():
        for name in sorted(resources & (node.pacemaker_managed_resources or set())):
            primitive = node.stack.drbd_primitives().get(name) if node.stack else None
            owner = (primitive.clone or primitive.id) if primitive else name
            ban = ["crm_resource", "--resource", owner, "--ban", "--node", node.name]
            clear = ["crm_resource", "--resource", owner, "--clear", "--node", node.name]
            reasons.append(
                f"{node.name}: Pacemaker manages DRBD {name} (ocf:linbit:drbd, resource "
                f"{owner}), so the portal does not run `drbdadm {commands}` on it. Do this "
                f"step with the cluster manager: `{shlex.join(ban)}` moves {owner} off "
                f"{node.name} and `{shlex.join(clear)}` lets it back; or take {name} out of "
                "Pacemaker first."
            )
    return reasons


def _drbd_interlocks(facts: ClusterFacts, resources: set[str]) -> list[str]:
    reasons = []
    for node in facts.with_data():
        for name in sorted(resources):
            state = (node.drbd_status or {}).get(name)
            problems = state.dual_primary_problems() if state else ["not running"]
            if problems:
                reasons.append(
                    f"{node.name}: DRBD {name} is not healthy dual-primary: {'; '.join(problems)}."
                )
            show = (node.drbd_show or {}).get(name)
            if show is not None and show.connections:
                options = drbd.effective_net_options(show.connections[0])
                if options["protocol"] != "C" or options["allow-two-primaries"] != "yes":
                    reasons.append(
                        f"{node.name}: DRBD {name} is not dual-primary-safe (protocol "
                        f"{options['protocol']}, allow-two-primaries "
                        f"{options['allow-two-primaries']})."
                    )
    return reasons


def maintenance_interlocks(cluster: Cluster, change) -> list[str]:
    """While a node is in maintenance only its return runs: a change or another workflow
    would write to a drained node (or judge it on a pair that is half out of service), and
    draining the other node would leave no node serving."""
    if isinstance(change, NodeReturn):
        return []
    reasons = []
    for node in Node.objects.filter(cluster=cluster, maintenance_since__isnull=False):
        since = f"{node.maintenance_since:%Y-%m-%d %H:%M} UTC"
        if isinstance(change, NodeDrain) and change.node != node.name:
            reasons.append(
                f"{node.name} is in maintenance (since {since}): never both nodes. Return "
                f"{node.name} first."
            )
        elif isinstance(change, NodeDrain):
            reasons.append(f"{node.name} is in maintenance already (since {since}).")
        else:
            reasons.append(
                f"{node.name} is in maintenance (since {since}): return it first; changes "
                "and other workflows wait until both nodes serve."
            )
    return reasons


def _node_interlocks(cluster: Cluster, facts: ClusterFacts) -> list[str]:
    reasons = []
    for node in facts.nodes:
        if node.host_key_problem:
            reasons.append(f"{node.name}: host key is not approved ({node.host_key_problem}).")
        elif not node.has_data:
            reasons.append(f"{node.name} is unreachable: {node.error or 'no data'}.")
    for unknown in Node.objects.filter(cluster=cluster, outcome_unknown_since__isnull=False):
        reasons.append(
            f"{unknown.name}: what job {unknown.outcome_unknown_job_id} left on this node is "
            "unknown until a collection reads it in full."
        )
    return reasons


def _interrupted(cluster: Cluster, change: Change | Workflow) -> list[str]:
    pending = Job.objects.filter(
        cluster=cluster, kind=Job.Kind.APPLY, needs_reconcile=True, reconciled_at=None
    )
    if isinstance(change, Reconcile):
        pending = pending.exclude(pk=change.job)
    return [
        f"Apply job {job.pk} was interrupted while changing nodes; reconcile it first "
        f"(/jobs/{job.pk}/reconcile/)."
        for job in pending
    ]


def _identity_interlocks(plans: list[NodePlan], facts: ClusterFacts) -> list[str]:
    """README.dlm: a cluster_mode device's DLM lockspace is named after its t10_dev_id;
    changing the id under it splits the reservations between nodes."""
    by_name = {n.name: n for n in facts.with_data()}
    reasons = []
    for plan in plans:
        for attr in plan.attributes:
            if attr.attribute != "t10_dev_id":
                continue
            live_mode = by_name[plan.node].device_attribute(attr.device, "cluster_mode").value
            if live_mode == "1":
                reasons.append(
                    f"{plan.node}: t10_dev_id of {attr.device} cannot change while its "
                    "cluster_mode is 1 (its DLM lockspace scst-<t10_dev_id> would split); "
                    "turn cluster_mode off first (README.dlm)."
                )
    return reasons


def interlocks(
    cluster: Cluster,
    facts: ClusterFacts,
    change: Change | Workflow,
    resources: set[str],
    holder_job: int | None = None,
) -> list[str]:
    """Reasons the cluster cannot be changed now (empty: it can). Drift blocks every change
    except those that overwrite it on purpose (enforce, reconcile), whose diff shows it."""
    reasons = []
    if cluster.mode != Cluster.Mode.MANAGED:
        reasons.append(
            f"{cluster.name} is monitored: the portal reads it but never writes to its nodes. "
            "An admin can switch it to managed once the inventory matches the nodes."
        )
    holder = locks.holder_of(cluster.pk)
    if holder is not None and holder.job_id != holder_job:
        reasons.append(f"Another change (job {holder.job_id} by {holder.user}) is running.")
    reasons += _node_interlocks(cluster, facts)
    reasons += maintenance_interlocks(cluster, change)
    reasons += _interrupted(cluster, change)
    reasons += _drbd_interlocks(facts, resources)
    foreign = Finding.objects.filter(cluster=cluster, resolved_at=None, code__in=FOREIGN)
    reasons += [
        f"{f.object_ref} is owned by another tool or not modelled: {f.title}." for f in foreign
    ]
    overwrites = isinstance(change, Enforce | Reconcile)
    drift = Finding.objects.filter(cluster=cluster, resolved_at=None, code__in=BLOCKING_DRIFT)
    if drift.exists() and not overwrites:
        reasons.append(
            f"The live config or a config file drifted from what the portal last wrote "
            f"({drift.count()} difference(s)); review the drift on the compliance page first."
        )
    return reasons


# --- planning -----------------------------------------------------------------------------


def _as_running(node: NodeFacts, desired: dict[str, DesiredNode]) -> NodeFacts:
    """Facts as if the node ran the desired SCST config (for judging the plan)."""
    return NodeFacts(node.name, True, scst_config=desired[node.name].scst_config)


def plan_compute(
    cluster: Cluster,
    change: Change,
    description: str,
    facts: ClusterFacts,
    holder_job: int | None = None,
) -> Plan:
    """The per-node plans on FACTS, the desired state's compliance, and the interlocks."""
    new = change.new_resources()
    try:
        desired = desired_after(cluster, change)
    except ValidationError as exc:  # e.g. a LUN number taken since the wizard checked
        return Plan(
            description, change.as_json(), refusals=[f"Invalid change: {m}" for m in exc.messages]
        )
    except (drbd.DrbdConfigError, scst.ScstConfigError) as exc:  # a value no file can carry
        return Plan(description, change.as_json(), refusals=[f"Invalid change: {exc}"])
    now = timezone.now()
    plan = Plan(
        description,
        change.as_json(),
        fingerprint=fingerprint(desired),
        planned_at=now.isoformat(),
        expires_at=(now + timedelta(seconds=settings.PLAN_TTL_SECONDS)).isoformat(),
    )
    for node in facts.nodes:
        if node.name in desired and node.has_data:
            plan.nodes.append(node_plan(node, desired[node.name], cluster.drbd_version, new))
    judged = ClusterFacts(cluster.name, [_as_running(n, desired) for n in facts.with_data()])
    plan.findings = [
        {"code": f.code, "severity": f.severity, "object": f.object_ref, "title": f.title}
        for f in compliance.evaluate(judged)
        if f.code.startswith("SCST_")
    ]
    touched = {r for p in plan.nodes for r in p.drbd_adjust} | {
        name for d in desired.values() for name in d.drbd_resources
    }
    plan.refusals = interlocks(cluster, facts, change, touched - new, holder_job)
    plan.refusals += new_resource_interlocks(cluster, facts, new, change)
    plan.refusals += pacemaker_interlocks(facts, new, "create-md/up/primary/down")
    plan.refusals += _identity_interlocks(plan.nodes, facts)
    if plan.findings:
        plan.refusals.append("The planned configuration itself breaks safety rules (see findings).")
    nothing = not any(n.changes_anything for n in plan.nodes)
    if nothing and not plan.refusals and not isinstance(change, Reconcile):
        plan.refusals.append(NOTHING_TO_CHANGE)  # a reconcile may only record the outcome
    plan.computed_desired = desired  # not stored: for the apply that recomputed it
    return plan


def plan_create(cluster: Cluster, user, change: Change | dict, description: str) -> Job:
    """Record a plan to compute (a queued job: the worker collects and judges); the
    caller queues it with jobs.enqueue(job, tasks.plan_job) once committed."""
    access.require_role(user, cluster, Role.OPERATOR)
    if isinstance(change, dict):
        change = change_from_json(change)
    return Job.objects.create(
        kind=Job.Kind.PLAN,
        cluster=cluster,
        requested_by=user,
        params=asdict(Plan(description, change.as_json())),
    )


def plan_run(job: Job) -> Job:
    """The plan task's body: collect every node now, then diff and judge on those facts."""
    from clusters.services.findings import findings_refresh

    if job.state == Job.State.QUEUED:
        jobs.job_start(job)
    cluster = job.acting_cluster()
    stored = Plan.from_json(job.params)
    jobs.job_event(job, "collect", "reading every node before planning")
    collection.nodes_collect(
        job, list(Node.objects.filter(cluster=cluster).select_related("cluster", "credential"))
    )
    facts = cluster_facts(cluster)
    findings_refresh(cluster, facts)
    try:
        change = change_from_json(stored.change)
    except ValidationError as exc:
        plan = Plan(stored.description, stored.change, refusals=exc.messages)
    else:
        plan = plan_compute(cluster, change, stored.description, facts)
        plan.refusals += disk_refusals(cluster, change)
    job.params = asdict(plan)
    job.save(update_fields=["params"])
    if plan.refusals:
        jobs.job_finish(job, Job.State.REFUSED, "; ".join(plan.refusals))
    else:
        jobs.job_finish(job, Job.State.SUCCEEDED, f"ready: {plan.description}")
    audit.record(
        job.requested_by,
        audit.Action.PLAN,
        job,
        after={"change": plan.change, "refusals": plan.refusals, "fingerprint": plan.fingerprint},
        reason=plan.description,
    )
    return job


def plan_now(cluster: Cluster, user, change: Change | dict, description: str) -> Job:
    """Create and compute a plan in this process (tests, benchmarks, the shell)."""
    return plan_run(plan_create(cluster, user, change, description))


@dataclass(frozen=True)
class PlanStatus:
    """What a plan's page and the API say about it now."""

    code: str  # computing, refused, ready, out_of_date, expired, applying, applied
    text: str

    @property
    def can_apply(self) -> bool:
        return self.code == "ready"

    @property
    def label(self) -> str:
        return "ready to apply" if self.code == "ready" else self.code.replace("_", " ")


def plan_status(job: Job) -> PlanStatus:
    """Ready only while nothing moved: not expired, not applied, and the plan recomputed
    on the latest stored facts (no SSH) is the one shown."""
    if job.state in (Job.State.QUEUED, Job.State.RUNNING):
        return PlanStatus("computing", "Reading every node and computing the plan…")
    if job.state != Job.State.SUCCEEDED:
        return PlanStatus("refused", job.summary or "This plan cannot be applied.")
    applies = Job.objects.filter(kind=Job.Kind.APPLY, params__plan_job=job.pk)
    if applies.filter(state__in=[Job.State.QUEUED, Job.State.RUNNING]).exists():
        return PlanStatus("applying", "Being applied.")
    if applies.filter(state=Job.State.SUCCEEDED).exists():
        return PlanStatus("applied", "Applied. Plan the next change again.")
    plan = Plan.from_json(job.params)
    if plan.expires is not None and plan.expires < timezone.now():
        return PlanStatus("expired", f"Expired at {plan.expires:%Y-%m-%d %H:%M} UTC: plan again.")
    try:
        cluster = job.acting_cluster()
        again = plan_compute(
            cluster, change_from_json(plan.change), plan.description, cluster_facts(cluster)
        )
    except Exception as exc:
        return PlanStatus("out_of_date", f"The plan cannot be re-checked: {exc}")
    moved = _moved(plan, again)
    if moved:
        return PlanStatus("out_of_date", f"Out of date: {moved}. Plan again.")
    return PlanStatus("ready", "Ready to apply.")


def _moved(approved: Plan, now: Plan) -> str:
    """Why NOW is not the APPROVED plan ('' when it is)."""
    refusals = [r for r in now.refusals if r != NOTHING_TO_CHANGE]
    if refusals:
        return "; ".join(refusals)
    if now.fingerprint != approved.fingerprint:
        return "the inventory changed since this plan"
    before, after = approved.signatures(), now.signatures()
    changed = sorted(n for n in set(before) | set(after) if before.get(n) != after.get(n))
    if changed:
        return f"the live state of {', '.join(changed)} changed since this plan"
    return ""


# --- applying ----------------------------------------------------------------------------


def apply_create(plan_job: Job, user, reason: str) -> Job:
    """Record the apply of a ready plan (a reason is required); the caller queues it."""
    access.require_role(user, plan_job.acting_cluster(), Role.OPERATOR)
    if not reason.strip():
        raise PlanRefused("Say why you apply this change (the reason goes to the audit trail).")
    with transaction.atomic():
        plan_job = Job.objects.select_for_update().get(pk=plan_job.pk)
        if plan_job.kind != Job.Kind.PLAN or plan_job.state != Job.State.SUCCEEDED:
            raise PlanRefused("Only a plan that passed every interlock can be applied.")
        taken = Job.objects.filter(kind=Job.Kind.APPLY, params__plan_job=plan_job.pk).exclude(
            state__in=[Job.State.FAILED, Job.State.REFUSED]
        )
        if taken.exists():
            raise PlanRefused("This plan has been applied already; plan the change again.")
        status = plan_status(plan_job)
        if not status.can_apply:
            raise PlanRefused(status.text)
        job = Job.objects.create(
            kind=Job.Kind.APPLY,
            cluster=plan_job.cluster,
            requested_by=user,
            params={"plan_job": plan_job.pk, "reason": reason.strip()},
        )
    audit.record(user, audit.Action.APPLY, job, after={"plan_job": plan_job.pk}, reason=reason)
    return job


def _endpoints(cluster: Cluster) -> dict[str, Node]:
    nodes = Node.objects.filter(cluster=cluster).select_related("credential", "cluster")
    return {n.name: n for n in nodes}


async def _read_facts(session) -> NodeFacts:
    outputs = await collect.read_node(session, stack=False)
    return node_facts(session.endpoint.name, {k: vars(v) for k, v in outputs.items()}, True)


def _verifier(
    before: dict[str, NodeFacts], new: dict[str, DesiredNode], plans: dict[str, NodePlan]
):
    """Read the node back: after the apply every value the plan touched must be the
    inventory's; after a rollback the node must run what it ran before."""

    async def verify(session, change: push.NodeChange, applied: bool) -> list[str]:
        name = change.endpoint.name
        now = await _read_facts(session)
        if now.scst_live is None and now.scst_config is None:
            return ["SCST state could not be read back"]
        plan = plans[name]
        if applied:
            problems = [
                d.text
                for _, details in scst_differences(now, new[name].scst_config)
                for d in details
            ]
        else:
            old = before[name].scst_config
            problems = (
                compare.scst_config_differences(
                    compare.without_copy_manager(old), compare.without_copy_manager(now.scst_config)
                )
                if old is not None and now.scst_config is not None
                else []
            )
        for resource in plan.drbd_adjust + plan.new_drbd_resources:
            problems += _drbd_problems(now, before[name], new[name], resource, applied, plan)
        return problems

    return verify


def _drbd_problems(
    now: NodeFacts,
    before: NodeFacts,
    want: DesiredNode,
    resource: str,
    applied: bool,
    plan: NodePlan,
) -> list[str]:
    if resource in plan.new_drbd_resources:
        return _new_resource_problems(now, resource, applied)
    have = (now.drbd_config or {}).get(resource)
    wanted = (
        want.drbd_resources.get(resource) if applied else (before.drbd_config or {}).get(resource)
    )
    if wanted is None:
        return []
    if have is None:
        return [f"DRBD {resource} is not in drbdadm dump"]
    problems = resource_differences(wanted, have)
    problems += compare.drbd_running_differences(now, resource, wanted)
    return problems


def _new_resource_problems(facts: NodeFacts, resource: str, applied: bool) -> list[str]:
    """Created: healthy dual-primary. Rolled back: neither running nor configured."""
    state = (facts.drbd_status or {}).get(resource)
    if applied:
        problems = state.dual_primary_problems() if state else ["not running"]
        return [f"DRBD {resource}: {p}" for p in problems]
    problems = [f"DRBD {resource} is still up"] if state is not None else []
    if resource in (facts.drbd_config or {}):
        problems.append(f"DRBD {resource} is still configured (drbdadm dump)")
    return problems


async def _serving(session, devices: list[str]) -> list[str]:
    """Why the node behind SESSION does not serve DEVICES' LUNs now (empty: it does)."""
    facts = await _read_facts(session)
    exported = {
        device
        for _driver, target, _group, _n, device in facts.exported_luns()
        if _target_enabled(facts, target)
    }
    problems = [f"{d} is not exported by an enabled target" for d in devices if d not in exported]
    for name, state in sorted((facts.drbd_status or {}).items()):
        issues = state.dual_primary_problems()
        if issues:
            problems.append(f"DRBD {name}: {'; '.join(issues)}")
    return problems


def _target_enabled(facts: NodeFacts, target: str) -> bool:
    views = compare.live_targets(facts) or {}
    view = views.get(target)
    return view is not None and view.enabled == "1"


def node_changes(plan: Plan, nodes: dict[str, Node]) -> list[push.NodeChange]:
    return [
        push.NodeChange(
            endpoint=collection.endpoint_for(nodes[p.node]),
            files={f.path: f.after for f in p.files},
            drbd_adjust=p.drbd_adjust,
            new_drbd_resources=p.new_drbd_resources,
            runtime_sets=p.runtime_sets,
            runtime_restore=p.runtime_restore,
            scst_reload=p.scst_reload,
            scst_force=p.scst_force,
            recreated_devices=p.recreated_devices,
            dlm_targets=[(d, t) for d, t in p.dlm_targets],
            dlm_paths=p.dlm_paths,
        )
        for p in plan.nodes
        if p.changes_anything
    ]


def apply_run(job: Job) -> Job:
    """The apply task's body: lock, collect fresh, re-judge, push, commit, collect."""
    if job.state == Job.State.QUEUED:
        jobs.job_start(job)
    cluster = job.acting_cluster()
    who = job.requested_by.get_username() if job.requested_by else "system"
    if not locks.acquire(cluster.pk, job.pk, who):
        holder = locks.holder_of(cluster.pk)
        by = f" (job {holder.job_id} by {holder.user})" if holder else ""
        jobs.job_finish(job, Job.State.REFUSED, f"Refused: another change holds the lock{by}.")
        return job
    try:
        return _apply_locked(job, cluster)
    finally:
        locks.release(cluster.pk, job.pk)  # (each way out has judged the cluster already)


def rejudge(
    job: Job, cluster: Cluster, approved: Plan, nodes: dict[str, Node]
) -> tuple[Plan | None, ClusterFacts]:
    """Under the lock: collect every node now and recompute; None with the job refused
    when the plan expired, an interlock fails or the plan is no longer the approved one."""
    from clusters.services.findings import findings_refresh

    jobs.job_event(job, "collect", "reading every node before writing")
    collection.nodes_collect(job, list(nodes.values()))
    facts = cluster_facts(cluster)
    findings_refresh(cluster, facts)
    reason = ""
    if approved.expires is not None and approved.expires < timezone.now():
        reason = f"the plan expired at {approved.expires:%H:%M:%S} UTC; plan again"
    else:
        change = change_from_json(approved.change)
        fresh = plan_compute(cluster, change, approved.description, facts, holder_job=job.pk)
        fresh.refusals += disk_refusals(cluster, change)
        reason = _moved(approved, fresh)
    if reason:
        jobs.job_finish(job, Job.State.REFUSED, f"Refused, nothing written: {reason.rstrip('.')}.")
        audit.record(job.requested_by, audit.Action.APPLY_FAILED, job, after={"refused": reason})
        return None, facts
    return fresh, facts


def _apply_locked(job: Job, cluster: Cluster) -> Job:
    plan_job = Job.objects.get(pk=job.params["plan_job"])
    approved = Plan.from_json(plan_job.params)
    nodes = _endpoints(cluster)
    plan, facts = rejudge(job, cluster, approved, nodes)
    if plan is None:
        return job
    change = change_from_json(plan.change)
    new = plan.computed_desired
    if new is None:
        raise RuntimeError(f"job {job.pk}: the recomputed plan has no desired configuration")
    before = {n.name: n for n in facts.with_data()}
    pushing = push.Push(
        owner=f"job-{job.pk}",
        journal=jobs.JobJournal(job, nodes),
        verify=_verifier(before, new, {p.node: p for p in plan.nodes}),
        serving=_serving,
        keep_jobs=settings.NODE_KEEP_JOBS,
        heartbeat_seconds=settings.JOB_HEARTBEAT_SECONDS,
    )
    changing = node_changes(plan, nodes)
    names = {c.endpoint.name for c in changing}
    pushing.others = [collection.endpoint_for(n) for name, n in nodes.items() if name not in names]
    result = async_to_sync(push.push)(changing, pushing)
    per_node = ", ".join(f"{o.node}: {o.state}" for o in result.outcomes.values())
    if result.stopped:
        jobs.interrupt(job.pk, f"{result.error} ({per_node})")
        job.refresh_from_db()
        return job
    _mark_unknown(job, nodes, result)
    reason = job.params.get("reason", "")
    if not result.ok:
        audit.record(
            job.requested_by,
            audit.Action.APPLY_FAILED,
            job,
            after={"nodes": per_node},
            reason=reason,
        )
        _collect_then_finish(
            job, cluster, nodes, Job.State.FAILED, f"Not applied ({result.error}). {per_node}"
        )
        return job
    _commit(job, cluster, change, plan, new, reason)
    _collect_then_finish(
        job, cluster, nodes, Job.State.SUCCEEDED, f"Applied: {plan.description}. {per_node}"
    )
    return job


def _collect_then_finish(job: Job, cluster: Cluster, nodes: dict, state: str, summary: str) -> None:
    """Read every node again and judge it before the job ends: a finished job's cluster
    page already shows what the change left (findings included)."""
    from clusters.services.findings import findings_refresh

    collection.nodes_collect(job, list(nodes.values()))
    locks.release(cluster.pk, job.pk)
    findings_refresh(cluster)
    jobs.job_finish(job, state, summary)


def _mark_unknown(job: Job, nodes: dict[str, Node], result: push.PushResult) -> None:
    unknown = [n for n, o in result.outcomes.items() if o.state == push.NodeState.UNKNOWN]
    Node.objects.filter(pk__in=[nodes[n].pk for n in unknown]).update(
        outcome_unknown_since=timezone.now(), outcome_unknown_job=job
    )


def _commit(job: Job, cluster: Cluster, change: Change, plan: Plan, new: dict, reason: str) -> None:
    """Every node runs the change: it enters the inventory, with a revision."""
    with transaction.atomic():
        before = inventory.inventory_export(cluster)
        change.apply_to(cluster)
        revision = Revision.objects.create(
            cluster=cluster,
            job=job,
            description=plan.description,
            files={name: {SCST_CONF: d.scst_file, **d.drbd_files} for name, d in new.items()},
            inventory=inventory.inventory_export(cluster),
        )
        if isinstance(change, Reconcile):
            Job.objects.filter(pk=change.job).update(
                reconciled_at=timezone.now(), reconciled_by=job
            )
        audit.record(
            job.requested_by,
            audit.Action.APPLY,
            revision,
            before=before,
            after=revision.inventory,
            reason=reason,
        )


__all__ = [
    "DRBD_DIR",
    "FileChange",
    "NodePlan",
    "Plan",
    "PlanRefused",
    "PlanStatus",
    "apply_create",
    "apply_run",
    "plan_create",
    "plan_now",
    "plan_run",
    "plan_status",
]
