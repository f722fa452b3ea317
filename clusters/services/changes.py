"""Safe changes: plan (diff + compliance + interlocks) → apply (stage, validate, apply node by
node, verify, roll back) → revision. Every plan and apply is a Job; one writer per cluster.

A change is data ({"kind": ..., ...}) applied to the inventory inside a transaction that
is rolled back while planning; the apply pushes first and commits the inventory only
once every node runs the new configuration.
"""

import dataclasses
import difflib
import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clusters import access, audit, collect, compliance, drbd, locks, push, scst
from clusters.compliance.drift_rules import resource_differences, scst_differences
from clusters.desired import DRBD_DIR, SCST_CONF, desired_cluster
from clusters.facts import COPY_MANAGER_DRIVER, ClusterFacts, DesiredNode, NodeFacts, node_facts
from clusters.models import Cluster, Finding, Job, Node, NodeSnapshot, Revision, Role
from clusters.services import collection, inventory, jobs
from clusters.services.facts import cluster_facts

FRESH_FOR = timedelta(minutes=1)
BLOCKING_DRIFT = ("DRIFT_SCST", "DRIFT_DRBD")
FOREIGN = ("FOREIGN_DRBD_FILE", "SCST_UNMODELLED")


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
class NodePlan:
    node: str
    files: list[FileChange] = field(default_factory=list)
    drbd_resources: list[str] = field(default_factory=list)  # changed: drbdadm adjust
    new_drbd_resources: list[str] = field(default_factory=list)  # created: create-md, up
    scst_changed: bool = False
    scst_force: bool = False


@dataclass
class Plan:
    description: str
    change: dict
    nodes: list[NodePlan] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    findings: list[dict] = field(default_factory=list)
    fingerprint: str = ""

    @classmethod
    def from_json(cls, data: dict) -> "Plan":
        nodes = [
            NodePlan(**{**n, "files": [FileChange(**f) for f in n["files"]]}) for n in data["nodes"]
        ]
        return cls(**{**data, "nodes": nodes})


# --- the change, applied to the inventory ---------------------------------------------


def change_apply(cluster: Cluster, change: dict) -> None:
    """Apply a change description to the inventory (the caller owns the transaction)."""
    kind = change["kind"]
    if kind == "add_lun":
        if change.get("new_resource"):
            spec = inventory.NewResourceSpec.from_json(change["new_resource"])
            inventory.drbd_resource_create(cluster, spec)
        inventory.lun_create(cluster, inventory.LunSpec.from_json(change["spec"]))
    elif kind == "remove_mappings":
        inventory.lun_mapping_remove(cluster, change["mapping_ids"])
    elif kind == "revert":
        revision = Revision.objects.get(pk=change["revision"], cluster=cluster)
        inventory.inventory_restore(cluster, revision.inventory)
    elif kind == "enforce":
        pass  # the inventory stays; the nodes are brought back to it
    else:
        raise PlanRefused(f"Unknown change kind {kind!r}.")


def desired_after(cluster: Cluster, change: dict) -> dict[str, DesiredNode]:
    """The desired state with the change applied, computed and rolled back."""
    with transaction.atomic():
        change_apply(cluster, change)
        desired = desired_cluster(cluster)
        transaction.set_rollback(True)
    return desired


def fingerprint(desired: dict[str, DesiredNode]) -> str:
    files = {name: {SCST_CONF: d.scst_file, **d.drbd_files} for name, d in sorted(desired.items())}
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()


# --- planning ----------------------------------------------------------------------------


def _with_copy_manager(config: scst.ScstConfig, running: scst.ScstConfig | None) -> scst.ScstConfig:
    """The config to push, carrying over the node's copy_manager section as it runs.

    SCST maps every device on its built-in copy_manager target by itself; `scstadmin
    -force -config` with a file lacking that section would remove those LUNs
    (scstadmin applyConfigAssignments), so the file keeps them.
    """
    if running is None or COPY_MANAGER_DRIVER not in running.drivers:
        return config
    drivers = {COPY_MANAGER_DRIVER: running.drivers[COPY_MANAGER_DRIVER], **config.drivers}
    return dataclasses.replace(config, drivers=drivers)


def _live_files(node: NodeFacts, desired: DesiredNode, version: str) -> dict[str, str]:
    """The node's running config rendered like the desired files, for a readable diff."""
    live = {SCST_CONF: scst.render_config(node.scst_config) if node.scst_config else ""}
    for path in desired.drbd_files:
        name = path.removeprefix(f"{DRBD_DIR}/").removesuffix(".res")
        config = (node.drbd_config or {}).get(name)
        try:
            live[path] = drbd.render_resource(config, version) if config else ""
        except drbd.DrbdConfigError:
            live[path] = "# the running resource cannot be rendered; see drbdadm dump\n"
    return live


def new_resources_of(change: dict) -> set[str]:
    """The DRBD resources a change creates (only ever on disks confirmed new and empty)."""
    new = change.get("new_resource") if change.get("kind") == "add_lun" else None
    return {new["name"]} if new else set()


def needs_force(node: NodeFacts, desired: DesiredNode) -> bool:
    """True unless the change only adds devices and LUNs. scstadmin -config refuses to
    remove or re-create (to change a creation attribute such as write_through) a device
    or LUN in use without -force; additions never need it."""
    for ref, details in scst_differences(node, desired.scst_config):
        only_added = ref.startswith("device:") and all(
            d.text.endswith("is missing") for d in details
        )
        lun_added = ref.startswith("lun:") and all(" is absent, " in d.text for d in details)
        if not (only_added or lun_added):
            return True
    return False


def node_plan(
    node: NodeFacts, desired: DesiredNode, version: str, new: set[str] = frozenset()
) -> NodePlan:
    plan = NodePlan(node.name)
    live = _live_files(node, desired, version)
    scst_file = scst.render_config(_with_copy_manager(desired.scst_config, node.scst_config))
    wanted = {SCST_CONF: scst_file, **desired.drbd_files}
    for path, after in sorted(wanted.items()):
        if live.get(path, "") != after:
            plan.files.append(FileChange(path, live.get(path, ""), after))
            if path == SCST_CONF:
                plan.scst_changed = True
                plan.scst_force = needs_force(node, desired)
            else:
                name = path.removeprefix(f"{DRBD_DIR}/").removesuffix(".res")
                (plan.new_drbd_resources if name in new else plan.drbd_resources).append(name)
    return plan


def _fresh_facts(cluster: Cluster, now: bool = False) -> ClusterFacts:
    """Facts at most FRESH_FOR old; `now`: collected for this plan."""
    newest = NodeSnapshot.objects.filter(node__cluster=cluster).order_by("-collected_at").first()
    if now or newest is None or timezone.now() - newest.collected_at > FRESH_FOR:
        collection.collection_run(collection.collection_create(cluster))
    return cluster_facts(cluster)


def new_resource_interlocks(cluster: Cluster, facts: ClusterFacts, change: dict) -> list[str]:
    """A new resource must not exist on any node yet: not running, not configured, no
    file of its name, its minors free; create-md would otherwise destroy live meta data."""
    new = change.get("new_resource") if change.get("kind") == "add_lun" else None
    if not new:
        return []
    name, reasons = new["name"], []
    if cluster.drbd_version == "8.4":
        # The creation sequence reads `drbdsetup status --json`, which DRBD 8.4 lacks.
        reasons.append("New DRBD resources are created on DRBD 9 clusters only.")
    minors = {node: minor for node, minor, _ in new["volumes"]}
    for node in facts.with_data():
        if name in (node.drbd_status or {}) or name in (node.drbd_config or {}):
            reasons.append(f"{node.name}: a DRBD resource {name} already exists on the node.")
        if f"{DRBD_DIR}/{name}.res" in (node.drbd_files or {}):
            reasons.append(f"{node.name}: {DRBD_DIR}/{name}.res already exists on the node.")
        for other in (node.drbd_status or {}).values():
            if any(d.minor == minors.get(node.name) for d in other.devices):
                reasons.append(
                    f"{node.name}: minor {minors[node.name]} is in use by DRBD {other.name}."
                )
    return reasons


def interlocks(
    cluster: Cluster, facts: ClusterFacts, resources: set[str], enforce: bool = False
) -> list[str]:
    """Reasons the cluster cannot be changed now (empty: it can). Drift blocks every change
    except the one that overwrites it on purpose (`enforce`), whose diff shows the drift."""
    reasons = []
    if cluster.mode != Cluster.Mode.MANAGED:
        reasons.append(
            f"{cluster.name} is monitored: the portal reads it but never writes to its nodes. "
            "An admin can switch it to managed once the inventory matches the nodes."
        )
    holder = locks.holder_of(cluster.pk)
    if holder is not None:
        reasons.append(f"Another change (job {holder.job_id} by {holder.user}) is running.")
    for node in facts.nodes:
        if node.host_key_problem:
            reasons.append(f"{node.name}: host key is not approved ({node.host_key_problem}).")
        elif not node.has_data:
            reasons.append(f"{node.name} is unreachable: {node.error or 'no data'}.")
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
    foreign = Finding.objects.filter(cluster=cluster, resolved_at=None, code__in=FOREIGN)
    reasons += [
        f"{f.object_ref} is owned by another tool or not modelled: {f.title}." for f in foreign
    ]
    drift = Finding.objects.filter(cluster=cluster, resolved_at=None, code__in=BLOCKING_DRIFT)
    if drift.exists() and not enforce:
        reasons.append(
            f"The live config drifted from what the portal last wrote ({drift.count()} "
            "difference(s)); review the drift on the compliance page first."
        )
    return reasons


def _resources_of(desired: dict[str, DesiredNode]) -> set[str]:
    return {name for d in desired.values() for name in d.drbd_resources}


def plan_compute(cluster: Cluster, change: dict, description: str) -> Plan:
    """The per-node diffs, the desired state's compliance, and the interlocks' verdict."""
    new = new_resources_of(change)
    # create-md destroys whatever meta data a disk holds: judge a new resource on facts
    # read for this plan, not on a collection up to a minute old.
    facts = _fresh_facts(cluster, now=bool(new))
    desired = desired_after(cluster, change)
    plan = Plan(description, change, fingerprint=fingerprint(desired))
    for node in facts.nodes:
        if node.name in desired and node.has_data:
            plan.nodes.append(node_plan(node, desired[node.name], cluster.drbd_version, new))
    judged = ClusterFacts(cluster.name, [_as_running(n, desired) for n in facts.with_data()])
    plan.findings = [
        {"code": f.code, "severity": f.severity, "object": f.object_ref, "title": f.title}
        for f in compliance.evaluate(judged)
        if f.code.startswith("SCST_")
    ]
    enforce = change["kind"] == "enforce"
    plan.refusals = interlocks(cluster, facts, _resources_of(desired) - new, enforce)
    plan.refusals += new_resource_interlocks(cluster, facts, change)
    if plan.findings:
        plan.refusals.append("The planned configuration itself breaks safety rules (see findings).")
    if not any(n.files for n in plan.nodes) and not plan.refusals:
        plan.refusals.append("Nothing to change: every node already runs this configuration.")
    return plan


def _as_running(node: NodeFacts, desired: dict[str, DesiredNode]) -> NodeFacts:
    """Facts as if the node ran the desired SCST config (for judging the plan)."""
    return NodeFacts(node.name, True, scst_config=desired[node.name].scst_config)


def plan_create(cluster: Cluster, user, change: dict, description: str) -> Job:
    """Compute and record a plan (a Job of kind plan); refused plans are kept too."""
    access.require_role(user, cluster, Role.OPERATOR)
    try:
        plan = plan_compute(cluster, change, description)
    except ValidationError as exc:  # e.g. a LUN number taken since the wizard checked
        plan = Plan(description, change, refusals=[f"Invalid change: {m}" for m in exc.messages])
    state = Job.State.FAILED if plan.refusals else Job.State.SUCCEEDED
    summary = "; ".join(plan.refusals) if plan.refusals else f"ready: {description}"
    now = timezone.now()
    job = Job.objects.create(
        kind=Job.Kind.PLAN,
        cluster=cluster,
        requested_by=user,
        state=state,
        summary=summary,
        started_at=now,
        finished_at=now,
        params=asdict(plan),
    )
    audit.record(
        user,
        audit.Action.PLAN,
        job,
        after={"change": change, "refusals": plan.refusals, "fingerprint": plan.fingerprint},
        reason=description,
    )
    return job


# --- applying ----------------------------------------------------------------------------


def apply_create(plan_job: Job, user, reason: str) -> Job:
    """Queue the apply of a plan that passed its interlocks; a reason is required."""
    access.require_role(user, plan_job.cluster, Role.OPERATOR)
    if plan_job.kind != Job.Kind.PLAN or plan_job.state != Job.State.SUCCEEDED:
        raise PlanRefused("Only a plan that passed every interlock can be applied.")
    if not reason.strip():
        raise PlanRefused("Say why you apply this change (the reason goes to the audit trail).")
    if Job.objects.filter(kind=Job.Kind.APPLY, params__plan_job=plan_job.pk).exists():
        raise PlanRefused("This plan has been applied already; plan the change again.")
    job = Job.objects.create(
        kind=Job.Kind.APPLY,
        cluster=plan_job.cluster,
        requested_by=user,
        params={"plan_job": plan_job.pk, "reason": reason.strip()},
    )
    audit.record(user, audit.Action.APPLY, job, after={"plan_job": plan_job.pk}, reason=reason)
    return job


def _endpoints(cluster: Cluster) -> dict[str, Node]:
    return {n.name: n for n in Node.objects.filter(cluster=cluster).select_related("credential")}


def _verifier(old: dict[str, DesiredNode], new: dict[str, DesiredNode], plans: dict[str, NodePlan]):
    """Compare a node's live state with the new plan (or the old state after a rollback)."""

    async def verify(session, change: push.NodeChange, applied: bool) -> list[str]:
        name = change.endpoint.name
        outputs = await collect.read_node(session)
        facts = node_facts(name, {k: vars(v) for k, v in outputs.items()}, True)
        want = (new if applied else old)[name]
        problems = [
            d.text for _, details in scst_differences(facts, want.scst_config) for d in details
        ]
        for resource in plans[name].drbd_resources + plans[name].new_drbd_resources:
            have = (facts.drbd_config or {}).get(resource)
            wanted = want.drbd_resources.get(resource)
            if wanted is not None and have is None:
                problems.append(f"DRBD {resource} is not in drbdadm dump")
            elif wanted is not None:
                problems += resource_differences(wanted, have)
            if resource in plans[name].new_drbd_resources:
                problems += _new_resource_problems(facts, resource, applied)
        return problems

    return verify


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


def apply_run(job: Job) -> Job:
    """The apply task's body: lock, push with rollback, commit inventory, revision, collect."""
    from clusters.services.findings import findings_refresh

    cluster, plan_job = job.cluster, Job.objects.get(pk=job.params["plan_job"])
    plan = Plan.from_json(plan_job.params)
    jobs.job_start(job)
    who = job.requested_by.get_username() if job.requested_by else "system"
    if not locks.acquire(cluster.pk, job.pk, who):
        jobs.job_finish(job, Job.State.FAILED, "Another change is running on this cluster.")
        return job
    try:
        return _apply_locked(job, cluster, plan)
    finally:
        locks.release(cluster.pk, job.pk)
        findings_refresh(cluster)


def _apply_locked(job: Job, cluster: Cluster, plan: Plan) -> Job:
    old = desired_cluster(cluster)
    new = desired_after(cluster, plan.change)
    if fingerprint(new) != plan.fingerprint:
        jobs.job_finish(job, Job.State.FAILED, "The inventory changed since the plan; plan again.")
        return job
    nodes = _endpoints(cluster)
    plans = {p.node: p for p in plan.nodes}
    changes = [
        push.NodeChange(
            endpoint=collection.endpoint_for(nodes[p.node]),
            files={f.path: f.after for f in p.files},
            drbd_resources=p.drbd_resources,
            new_drbd_resources=p.new_drbd_resources,
            scst_changed=p.scst_changed,
            scst_force=p.scst_force,
        )
        for p in plan.nodes
        if p.files
    ]
    change_id = f"job-{job.pk}"
    verify = _verifier(old, new, plans)
    result = jobs.run_with_progress(
        job, lambda log: push.push(changes, change_id, verify, log), nodes
    )
    per_node = ", ".join(f"{o.node}: {o.state}" for o in result.outcomes.values())
    reason = job.params.get("reason", "")
    if not result.ok:
        jobs.job_finish(job, Job.State.FAILED, f"Not applied ({result.error}). {per_node}")
        audit.record(
            job.requested_by,
            audit.Action.APPLY_FAILED,
            job,
            after={"nodes": per_node},
            reason=reason,
        )
        return job
    with transaction.atomic():
        before = inventory.inventory_export(cluster)
        change_apply(cluster, plan.change)
        revision = Revision.objects.create(
            cluster=cluster,
            job=job,
            description=plan.description,
            files={name: {SCST_CONF: d.scst_file, **d.drbd_files} for name, d in new.items()},
            inventory=inventory.inventory_export(cluster),
        )
        audit.record(
            job.requested_by,
            audit.Action.APPLY,
            revision,
            before=before,
            after=revision.inventory,
            reason=reason,
        )
    collection.collection_run(collection.collection_create(cluster, job.requested_by))
    jobs.job_finish(job, Job.State.SUCCEEDED, f"Applied: {plan.description}. {per_node}")
    return job
