"""SCST defaults for vdisk devices, so that "absent from -write_config" can mean "default".

`scstadmin -write_config` saves only key attributes (sysfs files ending in
`[key]`), i.e. values that differ from the default.  Sources are the
scst_vdisk.c `DEF_*` constants (SCST-project/scst, scst/src/dev_handlers/) and
reference/scst.md; values not listed are unknown (None), e.g. t10_dev_id and
usn, which SCST derives from the device name and the global setup_id.
"""

from __future__ import annotations

from dataclasses import dataclass

from clusters.scst.model import ScstConfig

VDISK_HANDLERS = ("vdisk_blockio", "vdisk_fileio")
DEVICE_NAME = "<device name>"


@dataclass(frozen=True)
class AttributeDefault:
    """A default value and where it comes from; DEVICE_NAME stands for the device's name."""

    value: str
    source: str


_VDISK = "scst_vdisk.c"
_COMMON: dict[str, AttributeDefault] = {
    "write_through": AttributeDefault("0", f"{_VDISK} DEF_WRITE_THROUGH"),
    "nv_cache": AttributeDefault("0", f"{_VDISK} DEF_NV_CACHE"),
    "blocksize": AttributeDefault("512", f"{_VDISK} DEF_DISK_BLOCK_SHIFT 9"),
    "read_only": AttributeDefault("0", f"{_VDISK} DEF_RD_ONLY"),
    "active": AttributeDefault("1", f"{_VDISK} DEF_DEV_ACTIVE"),
    "rotational": AttributeDefault("1", f"{_VDISK} DEF_ROTATIONAL"),
    "removable": AttributeDefault("0", f"{_VDISK} DEF_REMOVABLE"),
    "thin_provisioned": AttributeDefault("0", f"{_VDISK} DEF_THIN_PROVISIONED"),
    "bind_alua_state": AttributeDefault("1", f"{_VDISK} DEF_BIND_ALUA_STATE"),
    "cluster_mode": AttributeDefault("0", "scst/README.dlm: opt-in creation parameter"),
    "prod_id": AttributeDefault(DEVICE_NAME, "reference/scst.md: prod_id = device name"),
}

DEVICE_DEFAULTS: dict[str, dict[str, AttributeDefault]] = {
    "vdisk_blockio": {
        **_COMMON,
        "t10_vend_id": AttributeDefault("SCST_BIO", f"{_VDISK} SCST_BIO_VENDOR"),
    },
    "vdisk_fileio": {
        **_COMMON,
        "o_direct": AttributeDefault("0", f"{_VDISK} DEF_O_DIRECT"),
        "t10_vend_id": AttributeDefault("SCST_FIO", f"{_VDISK} SCST_FIO_VENDOR"),
    },
}


def default_device_attribute(handler: str, device_name: str, attr: str) -> str | None:
    """SCST's default for `attr` of a device of `handler`, or None when unknown."""
    default = DEVICE_DEFAULTS.get(handler, {}).get(attr)
    if default is None:
        return None
    return device_name if default.value == DEVICE_NAME else default.value


def effective_device_attribute(cfg: ScstConfig, device_name: str, attr: str) -> str | None:
    """The value `attr` has on `device_name`: written value, else default, else None.

    Raises KeyError when the configuration has no such device.
    """
    found = cfg.find_device(device_name)
    if found is None:
        raise KeyError(f"device {device_name!r} is not in the SCST configuration")
    handler, device = found
    value = device.attributes.get(attr)
    if value is not None:
        return value
    return default_device_attribute(handler.name, device_name, attr)
