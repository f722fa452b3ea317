"""Cluster-stack rules: DLM lockspaces, quorum and membership, fencing, Pacemaker's clones.

scst/README.dlm: reservations are safe only with a working DLM and a membership stack with
quorum and fencing. DRBD User's Guide, "Fencing": resource-and-stonith protects data only
when the fence-peer handler exists and the cluster manager behind it can fence.
"""

from clusters import stack
from clusters.compliance.catalogue import CRITICAL, README_DLM, UG_DUAL, Detail, rule
from clusters.compliance.drbd_rules import _fencing_options, _net_options, _resources
from clusters.compliance.scst_rules import _drbd_backed
from clusters.facts import ClusterFacts, NodeFacts

UG_FENCING = "DRBD User's Guide, 'Fencing' (resource-and-stonith, fence-peer handlers)"
PACEMAKER_PROMOTABLE = "Pacemaker Explained, 'Promotable clones' (promoted-max, default 1)"
DLM_EVIDENCE = "dlm_tool ls"


def _stack(node: NodeFacts) -> stack.ClusterStack | None:
    return node.stack


def _dlm_down(node: NodeFacts) -> str | None:
    """Why the node has no running DLM, or None when it has one (or that is unknown)."""
    st = _stack(node)
    if st is None or st.dlm.state in (stack.RUNNING, stack.UNKNOWN):
        return None
    return st.dlm.detail or "dlm_tool ls: no DLM"


@rule(
    "DLM_LOCKSPACE_MISSING",
    CRITICAL,
    "A cluster_mode device has no DLM lockspace scst-<t10_dev_id> on a node",
    f"{README_DLM}: with cluster_mode 1, SCST keeps the reservation state in the DLM "
    "lockspace scst-<t10_dev_id> (scst_dlm.c, at most 31 characters); a node without it "
    "does not share reservations with its peer.",
    "Start the DLM (dlm_controld, under the cluster stack) on the node; check the device's "
    "t10_dev_id is identical on both nodes; then set cluster_mode 0 and 1 again on the device "
    "(targets disabled) so that SCST joins the lockspace. Check with `dlm_tool ls`.",
)
def lockspace_missing(facts: ClusterFacts):
    for node in facts.with_data():
        st = _stack(node)
        if st is None or st.dlm.state == stack.UNKNOWN:
            continue
        names = st.lockspace_names()
        for device in _drbd_backed(node, facts):
            mode = node.device_attribute(device, "cluster_mode")
            if mode.value != "1":
                continue
            t10 = node.device_attribute(device, "t10_dev_id")
            if t10.value is None:
                continue
            wanted = stack.scst_lockspace(t10.value)
            if names is None:
                text = f"cluster_mode is 1 but there is no DLM: {st.dlm.detail}"
            elif wanted not in names:
                text = f"lockspace {wanted} is missing"
            else:
                continue
            listed = ", ".join(sorted(names)) if names else "none"
            evidence = f"{DLM_EVIDENCE}: lockspaces {listed}; {mode.evidence}; {t10.evidence}"
            yield lockspace_missing.rule.finding(
                f"device:{device}", Detail(text, evidence, node.name)
            )


@rule(
    "DLM_MISSING_FOR_RESERVATIONS",
    CRITICAL,
    "SCSI reservations are in use on a node without a running DLM",
    f"{README_DLM}: reservations are synchronised between the nodes only through the DLM; "
    "without it each node keeps its own reservation state and initiators see conflicting "
    "answers.",
    "Install and start the DLM under the cluster stack (corosync, dlm_controld) with quorum "
    "and fencing, set cluster_mode 1 on the device, and check `dlm_tool ls` lists "
    "scst-<t10_dev_id> on both nodes.",
)
def dlm_missing_for_reservations(facts: ClusterFacts):
    for node in facts.with_data():
        why = _dlm_down(node)
        if why is None or node.scst_live is None:
            continue
        for device in _drbd_backed(node, facts):
            live = node.scst_live.devices.get(device)
            pr = live.pr_state if live else None
            if pr is not None and pr.registrants:
                yield dlm_missing_for_reservations.rule.finding(
                    f"device:{device}",
                    Detail(
                        f"{len(pr.registrants)} reservation key(s) registered, no DLM ({why})",
                        f"devices/{device}/pr_state; {DLM_EVIDENCE}",
                        node.name,
                    ),
                )


@rule(
    "CLUSTER_NOT_QUORATE",
    CRITICAL,
    "The cluster stack on a node has lost quorum",
    f"{README_DLM}: the DLM needs a membership stack with quorum; without quorum it blocks "
    "lock requests (reservations hang) and Pacemaker stops or fences per no-quorum-policy.",
    "Find why the peer is not a member (`corosync-quorumtool -s`, `corosync-cfgtool -s`, the "
    "replication/cluster network); restore the link. Do not lower expected votes while the "
    "other node may still be running.",
)
def not_quorate(facts: ClusterFacts):
    for node in facts.with_data():
        st = _stack(node)
        if st is None:
            continue
        details = []
        if st.quorum is not None and not st.quorum.quorate:
            details.append(Detail("corosync is not quorate", "corosync-quorumtool -s: Quorate: No"))
        if st.status is not None and st.status.connected and st.status.with_quorum is False:
            details.append(
                Detail(
                    "Pacemaker's DC has no quorum",
                    'crm_mon --output-as=xml: current_dc with_quorum="false"',
                )
            )
        if details:
            yield not_quorate.rule.finding(
                f"node:{node.name}", *(Detail(d.text, d.evidence, node.name) for d in details)
            )


def _same_host(a: str, b: str) -> bool:
    return a == b or a.split(".")[0] == b.split(".")[0]


@rule(
    "CLUSTER_NODE_NOT_MEMBER",
    CRITICAL,
    "A node of the cluster is not a member of the cluster stack",
    f"{README_DLM}: both exporting nodes must be members of one membership stack for the DLM "
    "and fencing to cover them.",
    "On the missing node: start corosync and pacemaker (`systemctl start corosync "
    "pacemaker`), check `corosync-quorumtool -s` lists both nodes and `crm_mon -1` shows "
    "them online.",
)
def node_not_member(facts: ClusterFacts):
    names = [n.name for n in facts.nodes]
    for node in facts.with_data():
        st = _stack(node)
        if st is None:
            continue
        if st.quorum is not None:
            listed = st.quorum.member_names()
            for name in names:
                if not any(_same_host(name, m) for m in listed):
                    yield node_not_member.rule.finding(
                        f"node:{name}",
                        Detail(
                            f"{name} is not in corosync's membership",
                            "corosync-quorumtool -s: members " + ", ".join(sorted(listed)),
                            node.name,
                        ),
                    )
        if st.status is not None and st.status.connected:
            for pnode in st.status.nodes:
                if pnode.type != "member" or not any(_same_host(pnode.name, n) for n in names):
                    continue
                if not pnode.online or pnode.unclean:
                    state = "unclean" if pnode.unclean else "offline"
                    yield node_not_member.rule.finding(
                        f"node:{pnode.name}",
                        Detail(
                            f"Pacemaker shows {pnode.name} {state}",
                            f'crm_mon --output-as=xml: node {pnode.name} online="'
                            f'{str(pnode.online).lower()}" unclean="{str(pnode.unclean).lower()}"',
                            node.name,
                        ),
                    )


def _fencing(node: NodeFacts, resource: str) -> tuple[str | None, str]:
    values = _fencing_options(node, resource)
    for value, evidence in values:
        if value == "resource-and-stonith":
            return value, evidence
    config = (node.drbd_config or {}).get(resource)
    if values[0][0] is None and config is not None and config.fencing:
        return config.fencing, f"drbdadm dump {resource}"
    return values[0]


@rule(
    "FENCING_NOT_EFFECTIVE",
    CRITICAL,
    "fencing resource-and-stonith cannot fence: STONITH off, no fence device, or no handler",
    f"{UG_FENCING}; {UG_DUAL}: with two primaries, a fence-peer handler that is missing, or a "
    "cluster manager that cannot fence, leaves a split brain unprotected. Pacemaker fences "
    "only with stonith-enabled (fencing-enabled) true and a fence device configured.",
    "Install the fence-peer handler DRBD names (drbd-utils ships /usr/lib/drbd/"
    "crm-fence-peer.9.sh) and make it executable; in Pacemaker set `stonith-enabled=true` and "
    "configure a fence device that can power off the peer (`pcs stonith create …`), then test "
    "it (`stonith_admin --reboot PEER` on a disposable cluster).",
)
def fencing_not_effective(facts: ClusterFacts):
    for node in facts.with_data():
        st = _stack(node)
        for resource in _resources(node, facts):
            value, where = _fencing(node, resource)
            if value != "resource-and-stonith":
                continue
            details = []
            config = (node.drbd_config or {}).get(resource)
            handler = (config.handlers.get("fence-peer", "") if config else "").split()
            if config is not None and not handler:
                details.append(Detail("no fence-peer handler is configured", where))
            elif handler and st is not None and st.executables.get(handler[0]) is False:
                details.append(
                    Detail(
                        f"fence-peer handler {handler[0]} is missing or not executable",
                        f"test -x {handler[0]}: exit 1; drbdadm dump {resource}",
                    )
                )
            if st is not None:
                details += _cannot_fence(st)
            if details:
                yield fencing_not_effective.rule.finding(
                    f"resource:{resource}",
                    *(Detail(f"{d.text} ({where})", d.evidence, node.name) for d in details),
                )


def _cannot_fence(st: stack.ClusterStack) -> list[Detail]:
    if st.pacemaker.state in (stack.ABSENT, stack.STOPPED):
        why = "no cluster manager can fence: Pacemaker is not running"
        return [Detail(why, st.pacemaker.detail)]
    status = st.status
    if status is None:
        return []
    found = []
    if status.fencing_enabled is False:
        found.append(
            Detail(
                "STONITH is disabled in Pacemaker",
                'crm_mon --output-as=xml: cluster_options stonith-enabled="false"',
            )
        )
    devices = set(status.fence_devices)
    devices |= {p.id for p in st.primitives or [] if p.agent.startswith("stonith:")}
    if not devices:
        found.append(
            Detail(
                "no fence device is configured in Pacemaker",
                "crm_mon --output-as=xml / cibadmin --query: no stonith: resource",
            )
        )
    return found


def _dual_primary(node: NodeFacts, facts: ClusterFacts, resource: str) -> bool:
    desired = facts.desired.get(node.name) if facts.desired else None
    if desired is not None and resource in desired.drbd_resources:
        return True
    return any(v == "yes" for v, _ in _net_options(node, resource, "allow-two-primaries"))


@rule(
    "PACEMAKER_ONE_PROMOTED",
    CRITICAL,
    "Pacemaker's clone of a dual-primary DRBD resource allows fewer than two promoted instances",
    f"{PACEMAKER_PROMOTABLE}; {UG_DUAL}: a DRBD resource exported by both nodes must be "
    "Primary on both, so its ocf:linbit:drbd clone must be promotable with promoted-max=2; "
    "otherwise Pacemaker demotes one node and its LUN fails every write.",
    "Set the clone's meta attributes `promotable=true promoted-max=2 promoted-node-max=1` "
    "(`pcs resource meta CLONE promoted-max=2`), keeping allow-two-primaries yes in DRBD.",
)
def one_promoted(facts: ClusterFacts):
    seen: set[tuple[str, str]] = set()
    for node in facts.with_data():
        st = _stack(node)
        if st is None:
            continue
        for resource, primitive in sorted(st.drbd_primitives().items()):
            if not _dual_primary(node, facts, resource):
                continue
            if primitive.promotable and (primitive.promoted_max or 1) >= 2:
                continue
            if (resource, primitive.id) in seen:
                continue  # the CIB is cluster-wide: every node shows the same clone
            seen.add((resource, primitive.id))
            if not primitive.promotable:
                text = f"{primitive.id} manages {resource} but is not a promotable clone"
                evidence = f"cibadmin --query: primitive {primitive.id} ({primitive.agent})"
            else:
                text = f"clone {primitive.clone} allows {primitive.promoted_max} promoted instance"
                evidence = f"cibadmin --query: {primitive.promoted_max_evidence}"
            yield one_promoted.rule.finding(
                f"resource:{resource}", Detail(text, evidence, node.name)
            )
