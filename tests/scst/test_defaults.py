"""Absent from -write_config means SCST's default; effective values combine file and defaults."""

import pytest

from clusters.scst import (
    DEVICE_DEFAULTS,
    default_device_attribute,
    effective_device_attribute,
    parse_config,
)

CONF = """HANDLER vdisk_blockio {
\tDEVICE drbd0 {
\t\tfilename /dev/drbd0
\t\twrite_through 1
\t}
}

HANDLER vdisk_fileio {
\tDEVICE img1 {
\t\tfilename /srv/img1
\t\tnv_cache 1
\t}
}
"""


def test_written_value_wins_over_default():
    assert effective_device_attribute(parse_config(CONF), "drbd0", "write_through") == "1"


def test_absent_write_through_is_write_back_by_default():
    assert effective_device_attribute(parse_config(CONF), "img1", "write_through") == "0"


def test_absent_nv_cache_defaults_to_zero():
    assert effective_device_attribute(parse_config(CONF), "drbd0", "nv_cache") == "0"


def test_prod_id_defaults_to_the_device_name():
    assert effective_device_attribute(parse_config(CONF), "drbd0", "prod_id") == "drbd0"


def test_vendor_id_depends_on_the_handler():
    config = parse_config(CONF)
    assert effective_device_attribute(config, "drbd0", "t10_vend_id") == "SCST_BIO"
    assert effective_device_attribute(config, "img1", "t10_vend_id") == "SCST_FIO"


def test_o_direct_is_known_only_for_fileio():
    config = parse_config(CONF)
    assert effective_device_attribute(config, "img1", "o_direct") == "0"
    assert effective_device_attribute(config, "drbd0", "o_direct") is None


def test_t10_dev_id_default_is_unknown_because_it_derives_from_setup_id():
    assert effective_device_attribute(parse_config(CONF), "drbd0", "t10_dev_id") is None


def test_non_key_values_from_a_nonkey_file_are_used_as_written():
    text = CONF.replace("\t\twrite_through 1\n", "\t\t# Non-key attributes\n\t\tblocksize 4096\n")
    assert effective_device_attribute(parse_config(text), "drbd0", "blocksize") == "4096"


def test_unknown_device_is_a_key_error():
    with pytest.raises(KeyError, match="nosuch"):
        effective_device_attribute(parse_config(CONF), "nosuch", "nv_cache")


@pytest.mark.parametrize("handler", ["vdisk_blockio", "vdisk_fileio"])
@pytest.mark.parametrize(
    ("attr", "value"),
    [
        ("write_through", "0"),
        ("nv_cache", "0"),
        ("blocksize", "512"),
        ("read_only", "0"),
        ("active", "1"),
        ("rotational", "1"),
        ("removable", "0"),
        ("thin_provisioned", "0"),
        ("cluster_mode", "0"),
    ],
)
def test_vdisk_defaults_table(handler, attr, value):
    assert default_device_attribute(handler, "d", attr) == value
    assert DEVICE_DEFAULTS[handler][attr].source


def test_unknown_handler_has_no_defaults():
    assert default_device_attribute("dev_disk", "1:0:0:0", "nv_cache") is None
