"""render_config writes scstadmin's layout and refuses what scst.conf cannot express."""

import pytest

from clusters.scst import (
    Attributes,
    Device,
    Handler,
    ScstConfig,
    escape_value,
    parse_config,
    render_config,
)


def _config_with_device(**attrs: str) -> ScstConfig:
    device = Device("disk1", Attributes())
    for name, value in attrs.items():
        device.attributes.add(name, value)
    return ScstConfig(
        handlers={"vdisk_blockio": Handler("vdisk_blockio", devices={"disk1": device})}
    )


def test_attributes_are_sorted_by_name_and_indented_with_tabs():
    text = render_config(_config_with_device(write_through="1", filename="/dev/drbd0"), header=None)
    assert text == (
        "HANDLER vdisk_blockio {\n"
        "\tDEVICE disk1 {\n"
        "\t\tfilename /dev/drbd0\n"
        "\t\twrite_through 1\n"
        "\t}\n"
        "}\n\n"
    )


def test_header_is_a_comment_followed_by_a_blank_line():
    assert render_config(ScstConfig(), header="Made by the portal").startswith(
        "# Made by the portal\n\n"
    )


def test_non_key_attributes_follow_the_marker_like_write_config_nonkey():
    device = Device("disk1")
    device.attributes.add("filename", "/dev/drbd0")
    device.attributes.add("nv_cache", "0", key=False)
    config = ScstConfig(
        handlers={"vdisk_blockio": Handler("vdisk_blockio", devices={"disk1": device})}
    )
    assert "\t\tfilename /dev/drbd0\n\n\t\t# Non-key attributes\n\t\tnv_cache 0\n" in render_config(
        config
    )
    assert parse_config(render_config(config)) == config


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("joe secret", '"joe secret"'),
        ("a#b", "a\\#b"),
        ("a\\b", "a\\\\b"),
        ('a"b', 'a"b'),
        ("tab\there", '"tab\there"'),
    ],
)
def test_values_are_escaped_as_scstadmin_escapemeta_does(value, written):
    assert escape_value(value) == written
    assert parse_config(f"name {written}\n").attributes.get("name") == value


@pytest.mark.parametrize("value", ['"quoted"', 'a "b', "line\nbreak", "{", "a b\\"])
def test_values_scst_conf_cannot_express_are_refused(value):
    with pytest.raises(ValueError, match="cannot write value"):
        escape_value(value)


def test_keyword_as_attribute_name_is_refused():
    with pytest.raises(ValueError, match="attribute name 'LUN'"):
        render_config(_config_with_device(LUN="1"))


def test_mismatched_dict_key_is_refused():
    config = ScstConfig(handlers={"a": Handler("b")})
    with pytest.raises(ValueError, match="does not match"):
        render_config(config)
