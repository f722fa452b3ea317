"""The DRBD resource options the portal models: one home for every list of them (pure).

Sources: drbd.conf(5) (the option sections of a resource) and reference/drbd.md.
"""

from __future__ import annotations

# The option sections of a resource as `drbdadm dump` and a .res file show them
# (protocol and allow-two-primaries also have their own fields on ResourceConfig).
OPTION_SECTIONS: tuple[str, ...] = ("net", "disk", "handlers", "startup", "options")
# The sections drift compares between a node's file and the inventory's.
COMPARED_SECTIONS: tuple[str, ...] = ("net", "disk", "handlers", "startup")

# The net options a dual-primary pair's safety rests on: synchronous replication, both
# primaries allowed, and fencing (shown side by side per node on the cluster page).
SAFETY_NET_OPTIONS: tuple[str, ...] = ("protocol", "allow-two-primaries", "fencing")
# The net options the portal renders and judges: compared running (drbdsetup show,
# defaults filled in) against a file (drbdadm dump) or the inventory.
JUDGED_NET_OPTIONS: tuple[str, ...] = (
    "protocol",
    "allow-two-primaries",
    "after-sb-0pri",
    "after-sb-1pri",
    "after-sb-2pri",
    "fencing",
)
