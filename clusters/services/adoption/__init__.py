"""Adoption: take an existing SCST + DRBD cluster into the portal.

The steps, each in its own module: register the cluster and its nodes, monitored
(register); read them and lay their live config side by side, each difference a choice
(discover); import it into an empty inventory after a preview (importing); switch to
managed once every node was read just now and every difference is accepted (mode).
Callers use this package's names: `from clusters.services import adoption`.
"""

from clusters.services.adoption.discover import (
    Discovery,
    choices_needed,
    device_key,
    discovery,
    drbd_key,
    drbd_options,
)
from clusters.services.adoption.errors import AdoptionError
from clusters.services.adoption.importing import (
    MODELLED_HANDLERS,
    AdoptionPreview,
    AdoptionReport,
    adoption_preview,
    inventory_adopt,
    inventory_import,
)
from clusters.services.adoption.mode import (
    cluster_monitor,
    manage_create,
    manage_now,
    manage_pending,
    manage_run,
    mode_switch_blockers,
    read_problems,
    rediscover,
)
from clusters.services.adoption.register import NodeInput, cluster_register

__all__ = [
    "MODELLED_HANDLERS",
    "AdoptionError",
    "AdoptionPreview",
    "AdoptionReport",
    "Discovery",
    "NodeInput",
    "adoption_preview",
    "choices_needed",
    "cluster_monitor",
    "cluster_register",
    "device_key",
    "discovery",
    "drbd_key",
    "drbd_options",
    "inventory_adopt",
    "inventory_import",
    "manage_create",
    "manage_now",
    "manage_pending",
    "manage_run",
    "mode_switch_blockers",
    "read_problems",
    "rediscover",
]
