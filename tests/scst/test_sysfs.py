"""Sysfs attribute files, the grep dump, the link list and pr_state."""

import pytest

from clusters.scst import (
    PrRegistrant,
    PrReservation,
    SysfsAttribute,
    SysfsFormatError,
    parse_attribute,
    parse_dump,
    parse_links,
    parse_pr_state,
)

ROOT = "/sys/kernel/scst_tgt"


def test_value_with_key_mark_is_a_key_attribute():
    assert parse_attribute("1\n[key]\n") == SysfsAttribute("1", is_key=True)


def test_value_without_key_mark_is_at_its_default():
    assert parse_attribute("0\n") == SysfsAttribute("0", is_key=False)


def test_multi_line_value_keeps_its_lines():
    assert parse_attribute("a\nb\n[key]\n") == SysfsAttribute("a\nb", is_key=True)


def test_empty_file_is_an_empty_value():
    assert parse_attribute("") == SysfsAttribute("", is_key=False)


def test_dump_groups_lines_by_path_in_order():
    dump = (
        f"{ROOT}/devices/drbd0/write_through\x001\n"
        f"{ROOT}/devices/drbd0/write_through\x00[key]\n"
        f"{ROOT}/devices/drbd0/nv_cache\x000\n"
        f"{ROOT}/version\x003.8.0\n"
        f"{ROOT}/version\x00TRACING\n"
    )
    parsed = parse_dump(dump)
    assert list(parsed) == [
        f"{ROOT}/devices/drbd0/write_through",
        f"{ROOT}/devices/drbd0/nv_cache",
        f"{ROOT}/version",
    ]
    assert parsed[f"{ROOT}/devices/drbd0/write_through"] == SysfsAttribute("1", True)
    assert parsed[f"{ROOT}/version"].value == "3.8.0\nTRACING"


def test_dump_record_without_nul_is_a_format_error():
    with pytest.raises(SysfsFormatError, match="record 1"):
        parse_dump(f"{ROOT}/devices/drbd0/nv_cache 0\n")


def test_links_map_path_to_relative_target():
    links = parse_links(f"{ROOT}/devices/drbd0/handler\x00../../handlers/vdisk_blockio\n")
    assert links == {f"{ROOT}/devices/drbd0/handler": "../../handlers/vdisk_blockio"}


PR_STATE = """version 1
generation 7
reservation 05 00
registrant 1 00000000000000ab 1 4 0a0b0c0d
registrant 2 00000000000000ac 0 2 ffee
"""


def test_pr_state_reads_generation_reservation_and_registrants():
    state = parse_pr_state(PR_STATE)
    assert (state.version, state.generation) == (1, 7)
    assert state.reservation == PrReservation(type=5, scope=0)
    assert state.registrants == (
        PrRegistrant(1, 0xAB, True, bytes.fromhex("0a0b0c0d")),
        PrRegistrant(2, 0xAC, False, b"\xff\xee"),
    )
    assert state.registrants[0].key_hex == "00000000000000ab"
    assert state.in_use


def test_pr_state_without_registrants_means_no_reservations_in_use():
    state = parse_pr_state("version 1\ngeneration 0\n")
    assert state.reservation is None
    assert not state.in_use


@pytest.mark.parametrize(
    "text",
    [
        "",
        "version 2\ngeneration 0\n",
        "generation 0\nversion 1\n",
        "version 1\ngeneration x\n",
        "version 1\ngeneration 0\nreservation 5 0\n",
        "version 1\ngeneration 0\nregistrant 1 ab 1 0\n",
        "version 1\ngeneration 0\nregistrant 1 00000000000000ab 2 0\n",
        "version 1\ngeneration 0\nregistrant 1 00000000000000ab 1 3 0a0b\n",
        "version 1\ngeneration 0\nholder 1\n",
    ],
)
def test_malformed_pr_state_is_a_format_error(text):
    with pytest.raises(SysfsFormatError):
        parse_pr_state(text)
