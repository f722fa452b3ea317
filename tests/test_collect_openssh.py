"""The portal's SSH layer collects from a real OpenSSH server (lab interpreter behind
ForceCommand), and the facts parse exactly as from the lab's own server."""

import asyncio
import os

import pytest

from clusters import collect, ssh
from clusters.facts import node_facts
from tests.openssh_support import SSHD, start_sshd

pytestmark = pytest.mark.skipif(not os.path.exists(SSHD), reason="openssh-server not installed")


@pytest.fixture
def real_sshd(lab, tmp_path):
    node = lab.manifest["clusters"][0]["nodes"][0]["name"]
    server = start_sshd(lab.dir / "nodes" / node, lab.dir / "authorized_keys", tmp_path)
    yield node, server
    server.stop()


def endpoint(lab, node: str, port: int, host_key: str) -> ssh.NodeEndpoint:
    return ssh.NodeEndpoint(
        node_id=1,
        name=node,
        address="127.0.0.1",
        port=port,
        user="root" if os.geteuid() == 0 else os.environ.get("USER", "root"),
        private_key=(lab.dir / "client_key").read_text(),
        pinned_host_key=host_key,
    )


def test_collection_through_openssh_yields_full_facts(lab, real_sshd):
    node, server = real_sshd
    outcome = asyncio.run(collect.collect_node(endpoint(lab, node, server.port, server.host_key)))
    assert outcome.reachable and not outcome.error, outcome.error
    raw = {name: vars(output) for name, output in outcome.outputs.items()}
    facts = node_facts(node, raw, reachable=True)
    assert facts.problems == []
    assert set(facts.scst_live.devices) == {"r0", "r1"}
    assert facts.device_attribute("r0", "write_through").value == "1"
    assert facts.scst_config.find_device("r1") is not None
    assert facts.drbd_status["r0"].role == "Primary"
    assert facts.drbd_config["r1"].protocol == "C"


def test_openssh_with_an_unpinned_key_is_not_logged_in_to(lab, real_sshd):
    node, server = real_sshd
    outcome = asyncio.run(collect.collect_node(endpoint(lab, node, server.port, "")))
    assert outcome.host_key_problem == "unknown"
    assert outcome.offered_host_key == server.host_key
    assert outcome.outputs == {}
