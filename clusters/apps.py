from django.apps import AppConfig


class ClustersConfig(AppConfig):
    name = "clusters"
    verbose_name = "SCST + DRBD clusters"

    def ready(self) -> None:
        from clusters import alert_tasks  # noqa: F401 (registers the alert/history tasks)
