"""docs/prometheus-alerts.yml: valid YAML in Prometheus' rule-file shape, and every metric
its expressions name is one the portal exports (clusters/metrics.py)."""

import re
import shutil
import subprocess
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from clusters import metrics
from clusters.models import Job
from tests import records

RULES = Path(__file__).resolve().parent.parent / "docs" / "prometheus-alerts.yml"
PROMQL_KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "bool", "offset"}


def rules() -> list[dict]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    """Identifiers used as metric names: not functions, keywords, labels or durations."""
    expr = re.sub(r'"[^"]*"', "", expr)  # label values
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range durations
    expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", expr)  # grouping labels
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
        following = expr[match.end() :].lstrip()
        if following.startswith("(") or match.group() in PROMQL_KEYWORDS:
            continue
        names.add(match.group())
    return names


def exported(cluster) -> set[str]:
    """Every metric family /metrics/ shows once there are findings, collections and jobs."""
    records.collected(cluster)
    records.finding(cluster)
    records.job(cluster, state=Job.State.FAILED)
    return {family.name for family in text_string_to_metric_families(metrics.render().decode())}


def test_rules_have_prometheus_shape():
    found = rules()
    assert len(found) >= 6
    for rule in found:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert rule["alert"].startswith("ScstPortal") and rule["expr"]
        assert rule["labels"]["severity"] in {"critical", "warning"}
        assert rule["annotations"]["summary"]


def test_every_metric_named_in_the_rules_exists(cluster):
    available = exported(cluster)
    used = set().union(*(metric_names(rule["expr"]) for rule in rules()))
    assert used, "no metric found in the expressions: the parser is broken"
    assert used <= available, f"rules name metrics the portal does not export: {used - available}"
    assert used >= {
        "scst_portal_findings_open",
        "scst_portal_node_reachable",
        "scst_portal_node_collection_duration_seconds",
        "scst_portal_node_last_collection_timestamp_seconds",
        "scst_portal_jobs",
    }


def test_metric_name_parser_ignores_functions_and_labels():
    assert metric_names(
        'sum by (kind) (delta(scst_portal_jobs{state=~"failed|x"}[1h])) > 3 and on(a) up'
    ) == {"scst_portal_jobs", "up"}


def test_promtool_accepts_the_rules():
    # scripts/system-packages.sh installs Debian's prometheus for promtool.
    promtool = shutil.which("promtool")
    assert promtool, "promtool not installed (Debian package prometheus)"
    result = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True)
    assert result.returncode == 0, result.stdout + result.stderr
