from django.apps import AppConfig
from django.db.models.signals import post_save


class ClustersConfig(AppConfig):
    name = "clusters"
    verbose_name = "SCST + DRBD clusters"

    def ready(self) -> None:
        from clusters import alert_tasks  # noqa: F401 (registers the alert/history tasks)
        from clusters.models import NodeSnapshot

        post_save.connect(_snapshot_saved, sender=NodeSnapshot, dispatch_uid="host-key-confirmed")


def _snapshot_saved(sender, instance, created: bool, **kwargs) -> None:
    """Every recorded collection: a login with the pinned key clears a waiting key."""
    if created:
        from clusters.services.hostkeys import host_key_confirmed

        host_key_confirmed(instance)
