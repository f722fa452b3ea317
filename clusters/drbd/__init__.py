"""Pure-Python DRBD library: config model, renderer, and parsers for node output.

No Django and no I/O here; callers pass in text they fetched from a node.
"""

from clusters.drbd.dump import parse_dump
from clusters.drbd.model import (
    Address,
    ConnectionConfig,
    DrbdConfigError,
    HostSection,
    PathConfig,
    ResourceConfig,
    VolumeConfig,
)
from clusters.drbd.render import dual_primary_resource, render_resource
from clusters.drbd.show import (
    NET_DEFAULTS,
    ShowConnection,
    ShowResource,
    effective_net_options,
    parse_show,
)
from clusters.drbd.state import (
    DeviceState,
    PeerDeviceState,
    PeerState,
    ProcDrbdDevice,
    ResourceState,
    parse_events2,
    parse_proc_drbd,
    parse_status_json,
    parse_status_text,
    proc_drbd_states,
)
from clusters.drbd.validate import validate_resource

__all__ = [
    "NET_DEFAULTS",
    "Address",
    "ConnectionConfig",
    "DeviceState",
    "DrbdConfigError",
    "HostSection",
    "PathConfig",
    "PeerDeviceState",
    "PeerState",
    "ProcDrbdDevice",
    "ResourceConfig",
    "ResourceState",
    "ShowConnection",
    "ShowResource",
    "VolumeConfig",
    "dual_primary_resource",
    "effective_net_options",
    "parse_dump",
    "parse_events2",
    "parse_proc_drbd",
    "parse_show",
    "parse_status_json",
    "parse_status_text",
    "proc_drbd_states",
    "render_resource",
    "validate_resource",
]
