"""A DRBD 8.4 node has no `drbdsetup status --json`: its live state comes from /proc/drbd."""

from clusters.facts import node_facts
from tests.samples import FIXTURES as SAMPLES

FIXTURES = SAMPLES / "drbd"
DUMP = """resource r1 {
    on n1 {
        device           /dev/drbd1 minor 1;
        disk             /dev/sdb1;
        meta-disk        internal;
        address          ipv4 10.0.0.1:7789;
    }
    on n2 {
        device           /dev/drbd1 minor 1;
        disk             /dev/sdb1;
        meta-disk        internal;
        address          ipv4 10.0.0.2:7789;
    }
}
"""


def output(stdout: str = "", status: int = 0, stderr: str = "") -> dict:
    return {"command": "x", "stdout": stdout, "stderr": stderr, "exit_status": status}


def test_proc_drbd_gives_the_live_state_named_from_the_dump():
    raw = {
        "drbd_status_json": output(status=20, stderr="drbdsetup: unknown command 'status'\n"),
        "proc_drbd": output((FIXTURES / "proc-drbd-8.4.txt").read_text()),
        "drbd_dump": output(DUMP),
    }
    facts = node_facts("n1", raw, reachable=True)
    state = facts.drbd_status["r1"]
    assert state.role == "Primary"
    assert state.peers[0].role == "Secondary"
    assert state.peers[0].connection == "Connected"
    assert not any("status_json" in p or "status" in p.split(":")[0] for p in facts.problems)
    assert "minor-0" in facts.drbd_status  # minors no resource file names stay visible


def test_drbd9_node_does_not_need_proc_drbd():
    raw = {
        "drbd_status_json": output("[]"),
        "proc_drbd": output(status=1, stderr="cat: /proc/drbd: No such file or directory\n"),
    }
    facts = node_facts("n1", raw, reachable=True)
    assert facts.drbd_status == {}
    assert not any("proc" in p for p in facts.problems)
