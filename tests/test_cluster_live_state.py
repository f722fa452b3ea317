"""The cluster page's live state: each node's latest collection, DRBD resources and LUNs
of both nodes side by side, differences highlighted, missing data shown as missing."""

import json
import re

import pytest
from django.urls import reverse

from clusters.models import Role
from tests import records
from tests.factories import make_user

SHOW = """resource "r0" {
    _this_host {
        node-id %(id)d;
        volume 0 {
            device minor 0;
            disk "/dev/vg0/lun0";
            meta-disk internal;
        }
    }
    connection {
        _peer_node_id %(peer)d;
        path {
            _this_host ipv4 10.0.0.1:7789;
            _remote_host ipv4 10.0.0.2:7789;
        }
        _cstate Connected;
        net {
            allow-two-primaries yes;
            %(net)s
            _name "peer";
        }
    }
}
"""
SCST = """HANDLER vdisk_blockio {
	DEVICE lun0 {
		filename /dev/drbd0
		t10_dev_id 0001-lun0
		usn 0001
		prod_id lun0
		nv_cache %(nv_cache)s
	}
}
"""


def output(stdout: str) -> dict:
    return {"command": "…", "stdout": stdout, "stderr": "", "exit_status": 0}


def node_raw(node_id: int, disk: str = "UpToDate", oos: int = 0, nv_cache: str = "0", net=""):
    status = {
        "name": "r0",
        "node-id": node_id,
        "role": "Primary",
        "suspended": False,
        "devices": [{"volume": 0, "minor": 0, "disk-state": disk}],
        "connections": [
            {
                "peer-node-id": 1 - node_id,
                "name": "peer",
                "connection-state": "Connected",
                "peer-role": "Primary",
                "peer_devices": [
                    {
                        "volume": 0,
                        "replication-state": "Established",
                        "peer-disk-state": "UpToDate",
                        "out-of-sync": oos,
                    }
                ],
            }
        ],
    }
    return {
        "drbd_status_json": output(json.dumps([status])),
        "drbd_show": output(SHOW % {"id": node_id, "peer": 1 - node_id, "net": net}),
        "scst_running_config": output(SCST % {"nv_cache": nv_cache}),
    }


def row(page: str, group: str, label: str) -> str:
    body = re.search(rf'<tbody id="{group}">.*?</tbody>', page, re.S).group(0)
    for tr in re.findall(r"<tr.*?</tr>", body, re.S):
        if re.search(rf"<td>{re.escape(label)}( <span|</td>)", tr):
            return tr
    raise AssertionError(f"no row {label} in {group}")


def cells(tr: str) -> list[str]:
    return [
        re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td title=[^>]*>(.*?)</td>", tr)
    ]


@pytest.fixture
def page(client, cluster):
    client.force_login(make_user("v", Role.VIEWER, cluster))
    return lambda: client.get(reverse("cluster-detail", args=[cluster.name])).content.decode()


@pytest.fixture
def nodes(cluster):
    return list(cluster.nodes.order_by("name"))


def test_identical_nodes_show_no_differences(page, nodes):
    for i, node in enumerate(nodes):
        records.snapshot(node, raw=node_raw(i))
    html = page()
    assert cells(row(html, "resource-r0", "role")) == ["Primary", "Primary"]
    assert cells(row(html, "resource-r0", "protocol")) == ["C", "C"]
    assert cells(row(html, "device-lun0", "t10_dev_id")) == ["0001-lun0", "0001-lun0"]
    assert cells(row(html, "device-lun0", "handler")) == ["vdisk_blockio", "vdisk_blockio"]
    assert 'class="differs"' not in html


def test_differences_between_nodes_are_highlighted(page, nodes):
    records.snapshot(nodes[0], raw=node_raw(0, net="fencing resource-and-stonith;"))
    records.snapshot(nodes[1], raw=node_raw(1, disk="Inconsistent", oos=4096, nv_cache="1"))
    html = page()
    nv_cache = row(html, "device-lun0", "nv_cache")
    assert 'class="differs"' in nv_cache and cells(nv_cache) == ["0", "1"]
    assert cells(row(html, "resource-r0", "disk")) == ["UpToDate", "Inconsistent"]
    assert cells(row(html, "resource-r0", "out-of-sync")) == ["0 KiB", "4096 KiB"]
    assert cells(row(html, "resource-r0", "fencing")) == ["resource-and-stonith", "dont-care"]
    assert 'class="differs"' not in row(html, "device-lun0", "t10_dev_id")


def test_value_evidence_is_in_the_cell_title(page, nodes):
    for i, node in enumerate(nodes):
        records.snapshot(node, raw=node_raw(i))
    tr = row(page(), "device-lun0", "write_through")
    assert "default 0" in tr.replace("&#x27;", "'")


def test_unreachable_node_shows_missing_values_and_its_error(page, nodes):
    records.snapshot(nodes[0], raw=node_raw(0))
    records.snapshot(nodes[1], reachable=False, error="cannot reach 127.0.0.1:22: timed out")
    html = page()
    assert cells(row(html, "resource-r0", "role")) == ["Primary", "—"]
    assert "cannot reach 127.0.0.1:22: timed out" in html
    assert '<span class="badge critical">unreachable</span>' in html
    assert '<span class="badge ok">reachable</span>' in html


def test_never_collected_nodes_say_so_and_inventory_objects_are_listed(page):
    html = page()
    assert html.count('<span class="badge unknown">never collected</span>') == 2
    assert cells(row(html, "resource-r0", "role")) == ["—", "—"]
    assert cells(row(html, "device-lun0", "usn")) == ["—", "—"]


def test_devices_only_on_the_nodes_are_marked_as_not_in_the_inventory(page, cluster, nodes):
    cluster.devices.all().delete()
    for i, node in enumerate(nodes):
        records.snapshot(node, raw=node_raw(i))
    html = page()
    assert re.search(r'<tr id="device-row-lun0".*?not in the inventory', html, re.S)


def test_node_values_are_escaped(page, nodes):
    raw = node_raw(0)
    raw["scst_running_config"] = output(
        SCST.replace("prod_id lun0", 'prod_id "<img src=x>"') % {"nv_cache": "0"}
    )
    records.snapshot(nodes[0], raw=raw)
    html = page()
    assert "<img src=x>" not in html


def test_cluster_findings_are_listed_with_their_mutes(page, cluster):
    found = records.finding(cluster, "CRITICAL", code="SCST_NV_CACHE_ON", title="nv_cache is on")
    records.mute(found, make_user("op", Role.OPERATOR, cluster), reason="BBU swap")
    html = page()
    assert "SCST_NV_CACHE_ON" in html and "nv_cache is on" in html
    assert "by op: BBU swap" in html


def health(page: str, group: str, label: str) -> list[str]:
    return re.findall(r'<td title=[^>]*class="h-(\w+)"', row(page, group, label))


def test_split_brain_is_coloured_by_health_not_only_by_difference(page, nodes):
    # StandAlone on both nodes: the nodes agree, and it is still critical.
    for i, node in enumerate(nodes):
        raw = node_raw(i, oos=4096)
        raw["drbd_status_json"] = output(
            raw["drbd_status_json"]["stdout"]
            .replace('"Connected"', '"StandAlone"')
            .replace('"UpToDate", "out-of-sync"', '"DUnknown", "out-of-sync"')
        )
        records.snapshot(node, raw=raw)
    html = page()
    assert health(html, "resource-r0", "connection") == ["critical", "critical"]
    assert health(html, "resource-r0", "out-of-sync") == ["warning", "warning"]
    assert health(html, "resource-r0", "role") == ["ok", "ok"]
    summary = re.search(r'<tr id="resource-row-r0" class="h-row-(\w+)"', html)
    assert summary.group(1) == "critical"
    assert 'class="differs"' not in html


def test_unreachable_node_is_unknown_with_its_last_good_read_not_a_difference(page, nodes):
    for i, node in enumerate(nodes):
        records.snapshot(node, age=60, raw=node_raw(i))
    records.snapshot(nodes[1], reachable=False, error="timed out")
    html = page()
    assert health(html, "resource-r0", "role") == ["ok", "unknown"]
    assert 'class="differs"' not in html  # unknown is not a difference
    row_html = re.search(r'<tr id="resource-row-r0".*?</details>', html, re.S).group(0)
    assert "unknown" in row_html and "last good read: <time" in row_html
