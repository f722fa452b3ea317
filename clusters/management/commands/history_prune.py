"""Delete history samples older than HISTORY_RETENTION_DAYS (beat also does it hourly)."""

from django.conf import settings
from django.core.management.base import BaseCommand

from clusters.services import history


class Command(BaseCommand):
    help = "Delete recorded history samples older than HISTORY_RETENTION_DAYS."

    def handle(self, *args, **options) -> None:
        deleted = history.prune()
        days = settings.HISTORY_RETENTION_DAYS
        self.stdout.write(f"deleted {deleted} sample(s) older than {days} days")
