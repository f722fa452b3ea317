"""The modelled SCST attribute lists (clusters/scst/attributes.py) agree with each other
and with the inventory's ScstDevice fields."""

from django.db import models

from clusters.models import ScstDevice
from clusters.scst import attributes


def test_inventory_stores_every_modelled_attribute_but_the_per_node_filename():
    assert set(attributes.MODELLED_DEVICE_ATTRIBUTES) == {
        "filename",
        *attributes.INVENTORY_DEVICE_ATTRIBUTES,
    }
    for name in attributes.INVENTORY_DEVICE_ATTRIBUTES:
        assert ScstDevice._meta.get_field(name) is not None


def test_flag_attributes_are_small_integer_fields():
    for name in attributes.FLAG_ATTRIBUTES:
        field = ScstDevice._meta.get_field(name)
        assert isinstance(field, models.PositiveSmallIntegerField), name


def test_runtime_and_creation_attributes_split_the_modelled_ones():
    modelled = set(attributes.MODELLED_DEVICE_ATTRIBUTES)
    assert modelled >= attributes.RUNTIME_ATTRIBUTES
    assert set(attributes.CREATION_ATTRIBUTES) == modelled - attributes.RUNTIME_ATTRIBUTES
    # reference/scst.md: 0444 in scst_vdisk.c, so fixed at creation
    assert {"nv_cache", "write_through", "blocksize", "rotational"} <= set(
        attributes.CREATION_ATTRIBUTES
    )
    assert set(attributes.IDENTITY_ATTRIBUTES) <= attributes.RUNTIME_ATTRIBUTES
