"""A lab node whose module is DRBD 8.4 reads and dumps .res files as drbdadm 8.4 does.

drbdadm 9.22 hands the work to /usr/lib/drbd/drbdadm-84 when the loaded module is 8.4
(drbd-utils user/v84): `fencing` is a disk option there and `node-id` does not exist.
Each case is compared with that real parser (Debian's drbd-utils ships it).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from clusters.drbd.render import dual_primary_resource, render_resource
from lab import api
from lab.interpreter import run_command

DRBDADM_84 = "/usr/lib/drbd/drbdadm-84"
NODE = "c001-a"
needs_drbdadm_84 = pytest.mark.skipif(
    not os.path.exists(DRBDADM_84), reason="drbd-utils' drbdadm-84 is not installed"
)
NODES = [("c001-a", "10.1.0.1"), ("c001-b", "10.1.0.2")]
# As an admin writes it for 8.4 (DRBD 8.4 User's Guide): tuning in net and disk, fencing
# in disk, a split-brain notifier, startup timeouts and become-primary-on.
ADMIN_WRITTEN = """resource r3 {
  net {
    protocol C;
    allow-two-primaries yes;
    after-sb-0pri discard-zero-changes;
    max-buffers 8000;
    ping-timeout 10;
  }
  disk {
    resync-rate 100M;
    fencing resource-and-stonith;
  }
  handlers {
    fence-peer "/usr/lib/drbd/crm-fence-peer.sh";
    after-resync-target "/usr/lib/drbd/crm-unfence-peer.sh";
    split-brain "/usr/lib/drbd/notify-split-brain.sh root";
  }
  startup {
    wfc-timeout 30;
    become-primary-on both;
  }
  on c001-a {
    device /dev/drbd3 minor 3;
    disk /dev/lab/r3;
    meta-disk internal;
    address 10.1.0.1:7792;
  }
  on c001-b {
    device /dev/drbd3 minor 3;
    disk /dev/lab/r3;
    meta-disk internal;
    address 10.1.0.2:7792;
  }
}
"""
LAYOUTS = {
    "lab-default": api.res_file("c001", "r0", 0, NODES, "8.4"),
    "admin-written": ADMIN_WRITTEN,
    "portal-rendered": render_resource(
        dual_primary_resource("r5", 7795, NODES, [(5, "/dev/lab/r5")], version="8.4"), "8.4"
    ),
}


@pytest.fixture
def lab84(tmp_path: Path) -> Path:
    return api.create_lab(tmp_path / "lab84", clusters=1, drbd_version="8.4")


def _real(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [DRBDADM_84, "-c", str(path), "dump"], capture_output=True, text=True, check=False
    )


@needs_drbdadm_84
@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_84_layout_is_dumped_byte_for_byte_like_drbdadm_84(lab84, tmp_path, name):
    text = LAYOUTS[name]
    api.node(lab84, NODE).write("/root/staged.res", text)
    ours = run_command(api.node(lab84, NODE), "drbdadm -c /root/staged.res dump")
    real_file = tmp_path / "staged.res"
    real_file.write_text(text)
    real = _real(real_file)
    assert ours.exit_status == real.returncode == 0, real.stderr
    expected = real.stdout.replace(str(real_file), "/root/staged.res")
    # Only the header differs: this machine is not c001-a, so drbdadm-84 says "ignored".
    expected = expected.replace(f" on {os.uname().nodename}: ignored,", f" on {NODE}: not ignored,")
    assert ours.stdout == expected
    assert "fencing          resource-and-stonith;" in ours.stdout.split("    disk {")[1]


_FENCING = "    fencing resource-and-stonith;\n"
_PING = "    ping-timeout 10;\n"
REFUSED = {
    "fencing in net": ADMIN_WRITTEN.replace(_FENCING, "").replace(_PING, _PING + _FENCING),
    "node-id": ADMIN_WRITTEN.replace("  on c001-a {\n", "  on c001-a {\n    node-id 0;\n"),
    "a DRBD 9 option": ADMIN_WRITTEN.replace(_PING, _PING + "    transport tcp;\n"),
}


@needs_drbdadm_84
@pytest.mark.parametrize("what", sorted(REFUSED))
def test_84_node_refuses_what_drbdadm_84_refuses(lab84, tmp_path, what):
    text = REFUSED[what]
    assert text != ADMIN_WRITTEN
    api.node(lab84, NODE).write("/root/bad.res", text)
    ours = run_command(api.node(lab84, NODE), "drbdadm -c /root/bad.res dump")
    real_file = tmp_path / "bad.res"
    real_file.write_text(text)
    real = _real(real_file)
    assert ours.exit_status == real.returncode == 10
    assert ours.stderr == real.stderr.replace(str(real_file), "/root/bad.res")


def test_a_drbd9_node_still_takes_fencing_in_net(tmp_path):
    lab9 = api.create_lab(tmp_path / "lab9", clusters=1)
    text = api.res_file("c001", "r0", 0, NODES)
    assert "node-id 0;" in text and "    fencing resource-and-stonith;\n  }\n  handlers" in text
    api.node(lab9, NODE).write("/root/r.res", text)
    assert run_command(api.node(lab9, NODE), "drbdadm -c /root/r.res dump").exit_status == 0


def test_84_drbdsetup_show_has_drbdsetup_84s_layout_and_the_portal_reads_it(lab84):
    from clusters.drbd import parse_show

    text = run_command(api.node(lab84, NODE), "drbdsetup show r0").stdout
    assert text.startswith("resource r0 {\n    options {\n    }\n    net {\n")
    assert "    _remote_host {\n        address\t\t\tipv4 10.1.0.2:7789;\n    }\n" in text
    assert "        address\t\t\tipv4 10.1.0.1:7789;\n        volume 0 {\n" in text
    assert "node-id" not in text and "connection" not in text
    (res,) = parse_show(text)
    (volume,) = res.volumes
    assert volume.disk_options.values == {"fencing": "resource-and-stonith"}
    assert res.connections[0].net.values["allow-two-primaries"] == "yes"


@needs_drbdadm_84
def test_84_node_dumps_its_whole_config_like_drbdadm_84(lab84):
    """`drbdadm dump` as the collector runs it: drbd.conf, Debian's global_common.conf
    and the lab's .res files, global section included."""
    root = lab84 / "nodes" / NODE / "root"
    ours = run_command(api.node(lab84, NODE), "drbdadm dump")
    real = _real(root / "etc/drbd.conf")
    assert ours.exit_status == real.returncode == 0, real.stderr
    expected = real.stdout.replace(f"{root}/etc/", "/etc/").replace(
        f" on {os.uname().nodename}: ignored,", f" on {NODE}: not ignored,"
    )
    assert ours.stdout == expected
    assert "global {\n" in ours.stdout
