"""A lab node on disk: its state files, its filesystem root and its lock.

Layout (see docs/lab.md): LAB/nodes/NAME/{node.json,host_key,faults.json,root/},
LAB/clusters/CLUSTER/{cluster.json,lock}. Every command runs inside
`Node.session()`, which holds the cluster lock (both nodes of a cluster share
their DRBD link), reloads state that another process changed and saves changes.
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lab.state import (
    ClusterState,
    NodeInfo,
    NodeState,
    cluster_from_dict,
    locked,
    node_from_dict,
    to_json,
    write_atomic,
)


class Node:
    def __init__(self, node_dir: Path) -> None:
        self.dir = Path(node_dir)
        self.root = self.dir / "root"
        self.state_path = self.dir / "node.json"
        self._info: NodeInfo | None = None
        self._state: NodeState | None = None
        self._cluster: ClusterState | None = None
        self._stamp: tuple = ()
        self.dirty_node = False
        self.dirty_cluster = False

    # --- identity -------------------------------------------------------------

    @property
    def info(self) -> NodeInfo:
        if self._info is None:
            self._info = NodeInfo(**json.loads(self.state_path.read_text())["info"])
        return self._info

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def lab_dir(self) -> Path:
        return self.dir.parent.parent

    @property
    def cluster_dir(self) -> Path:
        return self.lab_dir / "clusters" / self.info.cluster

    @property
    def cluster_path(self) -> Path:
        return self.cluster_dir / "cluster.json"

    # --- state ------------------------------------------------------------------

    def _files_stamp(self) -> tuple:
        a = os.stat(self.state_path)
        b = os.stat(self.cluster_path)
        return (a.st_mtime_ns, a.st_size, a.st_ino, b.st_mtime_ns, b.st_size, b.st_ino)

    def _load_if_changed(self) -> None:
        stamp = self._files_stamp()
        if stamp != self._stamp or self._state is None:
            self._state = node_from_dict(json.loads(self.state_path.read_text()))
            self._cluster = cluster_from_dict(json.loads(self.cluster_path.read_text()))
            self._stamp = stamp

    @property
    def state(self) -> NodeState:
        assert self._state is not None, "use Node.session()"
        return self._state

    @property
    def cluster(self) -> ClusterState:
        assert self._cluster is not None, "use Node.session()"
        return self._cluster

    def save(self) -> None:
        if self.dirty_node:
            self.state.scst.drop_dangling_cm_luns()
            write_atomic(self.state_path, to_json(self.state))
        if self.dirty_cluster:
            write_atomic(self.cluster_path, to_json(self.cluster))
        if self.dirty_node or self.dirty_cluster:
            self._stamp = self._files_stamp()
        self.dirty_node = self.dirty_cluster = False

    @contextmanager
    def session(self) -> Iterator[Node]:
        """Lock the cluster, bring state up to date, save what the caller changed."""
        with locked(self.cluster_dir / "lock"):
            self._load_if_changed()
            try:
                yield self
            finally:
                self.save()

    # --- the node's filesystem ---------------------------------------------------

    def host_path(self, path: str) -> Path:
        """Map an absolute node path to the real file under the node root."""
        parts = [p for p in os.path.normpath("/" + path).split("/") if p not in ("", ".")]
        return self.root.joinpath(*parts) if parts else self.root

    def read(self, path: str) -> str | None:
        try:
            return self.host_path(path).read_text()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def glob(self, pattern: str) -> list[str]:
        directory, _, pat = pattern.rpartition("/")
        base = self.host_path(directory or "/")
        try:
            names = sorted(os.listdir(base))
        except (FileNotFoundError, NotADirectoryError):
            return []
        return [f"{directory}/{n}" for n in names if fnmatch.fnmatch(n, pat)]

    def write(self, path: str, text: str) -> bool:
        target = self.host_path(path)
        if not target.parent.is_dir():
            return False
        target.write_text(text)
        return True
