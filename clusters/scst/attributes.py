"""The SCST device attributes the portal models: one home for every list of them (pure).

Sources: reference/scst.md ("vdisk attributes", "Which vdisk attributes can change at
runtime") and scst/src/dev_handlers/scst_vdisk.c, the vdisk `__ATTR` table.
"""

from __future__ import annotations

from clusters.scst.defaults import VDISK_HANDLERS

# Handlers whose devices the inventory models; any other handler's devices are foreign.
MODELLED_HANDLERS = frozenset(VDISK_HANDLERS)

# SCST device attributes the inventory models (ScstDevice has a field of each name but
# filename, which is the node's DRBD device); anything else on a device is unmodelled.
# The order is the order plans and findings list differences in.
MODELLED_DEVICE_ATTRIBUTES: tuple[str, ...] = (
    "filename",
    "nv_cache",
    "write_through",
    "cluster_mode",
    "blocksize",
    "rotational",
    "t10_dev_id",
    "usn",
    "prod_id",
    "t10_vend_id",
    "eui64_id",
    "naa_id",
)

# The modelled attributes an inventory device stores (ScstDevice fields), identity first:
# the order exports, the API and the adoption table show them in.
INVENTORY_DEVICE_ATTRIBUTES: tuple[str, ...] = (
    "t10_dev_id",
    "usn",
    "prod_id",
    "t10_vend_id",
    "eui64_id",
    "naa_id",
    "nv_cache",
    "write_through",
    "cluster_mode",
    "blocksize",
    "rotational",
)

# The SCSI identity both nodes must present alike (README.dlm: the same t10_dev_id).
IDENTITY_ATTRIBUTES: tuple[str, ...] = ("t10_dev_id", "usn", "prod_id", "eui64_id", "naa_id")
# SCST derives these from the node's global setup_id when unset, so they are always written.
SETUP_ID_DERIVED_ATTRIBUTES: tuple[str, ...] = ("t10_dev_id", "usn")
# sysfs prints EUI-64 and NAA ids as 0x-prefixed hex (scst_vdisk.c vdev_sysfs_eui64_id_show).
HEX_ID_ATTRIBUTES = frozenset({"eui64_id", "naa_id"})

# 0644 in the vdisk `__ATTR` table: writable while the device runs (scstadmin
# -set_dev_attr).
RUNTIME_ATTRIBUTES = frozenset(
    {"cluster_mode", "t10_dev_id", "usn", "prod_id", "t10_vend_id", "eui64_id", "naa_id"}
)
# The other modelled attributes (0444: nv_cache, write_through, blocksize, rotational) are
# fixed at creation, and a new `filename` changes the device under its LUNs: changing one
# means deleting and re-creating the device.
CREATION_ATTRIBUTES: tuple[str, ...] = tuple(
    a for a in MODELLED_DEVICE_ATTRIBUTES if a not in RUNTIME_ATTRIBUTES
)

# What a dual-primary pair's data safety rests on: no write-back cache SCST acknowledges
# before DRBD has the write on both nodes (nv_cache 0, write_through 1), and SCSI
# reservations shared across the nodes (cluster_mode, README.dlm).
SAFETY_ATTRIBUTES: tuple[str, ...] = ("nv_cache", "write_through", "cluster_mode")

# The modelled attributes that hold 0 or 1 (stored as small integers in the inventory).
FLAG_ATTRIBUTES: tuple[str, ...] = ("nv_cache", "write_through", "cluster_mode", "rotational")
