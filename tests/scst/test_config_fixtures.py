"""Every real scst.conf sample parses, renders, and means the same to scstadmin afterwards."""

import pytest

from clusters.scst import parse_config, render_config
from tests.scst.fixtures import FIXTURES, SCST_CONF_FILES
from tests.scst.scstadmin_oracle import scstadmin_tree

pytestmark = pytest.mark.parametrize("path", SCST_CONF_FILES, ids=lambda p: p.name)


def test_fixture_directory_is_not_empty(path):
    assert FIXTURES.is_dir() and len(SCST_CONF_FILES) >= 3


def test_rendered_fixture_parses_back_to_the_same_model(path):
    config = parse_config(path.read_text())
    assert parse_config(render_config(config)) == config


def test_rendered_fixture_is_the_same_configuration_for_scstadmin(path):
    text = path.read_text()
    assert scstadmin_tree(render_config(parse_config(text))) == scstadmin_tree(text)


def test_rendering_is_deterministic(path):
    config = parse_config(path.read_text())
    assert render_config(config) == render_config(parse_config(render_config(config)))


def test_every_lun_refers_to_a_device_defined_in_a_handler(path):
    config = parse_config(path.read_text())
    devices = {d for h in config.handlers.values() for d in h.devices}
    for driver in config.drivers.values():
        for target in driver.targets.values():
            luns = list(target.luns.values())
            luns += [lun for g in target.groups.values() for lun in g.luns.values()]
            assert {lun.device for lun in luns} <= devices
