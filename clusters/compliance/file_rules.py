"""Would the node's own files load what it runs now? (the next restart's configuration)"""

import difflib

from clusters import compare, scst
from clusters.compliance.catalogue import CRITICAL, Detail, rule
from clusters.facts import ClusterFacts, NodeFacts
from clusters.paths import SCST_CONF

EVIDENCE_LINES = 60


@rule(
    "CONFIG_FILE_DIFFERS",
    CRITICAL,
    "A node's configuration file differs from what it runs",
    "SCST loads /etc/scst.conf and DRBD its .res files at the next start or `drbdadm adjust`: "
    "a file that differs from the running configuration (a change half applied, a hand edit "
    "never loaded) puts a configuration nobody approved into service at the next restart.",
    "Plan 'Bring nodes back to the inventory' (it rewrites the file and reloads what "
    "differs), or find who changed the file; until then do not restart SCST or DRBD there.",
)
def config_file_differs(facts: ClusterFacts):
    for node in facts.with_data():
        scst_lines = _scst_file_differences(node)
        if scst_lines:
            yield config_file_differs.rule.finding(
                f"file:{SCST_CONF}@{node.name}",
                *[Detail(text, _scst_diff(node), node.name) for text in scst_lines[:20]],
            )
        for resource, config in sorted((node.drbd_config or {}).items()):
            lines = compare.drbd_running_differences(node, resource, config)
            if lines:
                yield config_file_differs.rule.finding(
                    f"file:{resource}.res@{node.name}",
                    *[Detail(text, "drbdadm dump vs drbdsetup show", node.name) for text in lines],
                )


def _scst_file_differences(node: NodeFacts) -> list[str]:
    if node.scst_file is None or node.scst_config is None:
        return []  # not read: nothing known either way
    if node.scst_file_config is None:
        return [f"{SCST_CONF} cannot be parsed, so SCST would not load it"]
    return compare.scst_config_differences(node.scst_file_config, node.scst_config)


def _scst_diff(node: NodeFacts) -> str:
    """A unified diff, file → running, both laid out the same way (copy manager left out)."""
    if node.scst_file_config is None or node.scst_config is None:
        return ""  # only called for nodes where both were read
    file = scst.render_config(compare.without_copy_manager(node.scst_file_config))
    running = scst.render_config(compare.without_copy_manager(node.scst_config))
    lines = list(
        difflib.unified_diff(
            file.splitlines(),
            running.splitlines(),
            f"{SCST_CONF} (on disk)",
            "scstadmin -write_config (running)",
            lineterm="",
        )
    )
    return "\n".join(lines[:EVIDENCE_LINES])
