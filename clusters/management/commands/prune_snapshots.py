"""Delete old node snapshots: keep the newest SNAPSHOT_KEEP_PER_NODE per node and one per
day for SNAPSHOT_KEEP_DAILY_DAYS days (beat runs the same hourly)."""

from django.core.management.base import BaseCommand

from clusters.services import retention


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, **options) -> None:
        deleted = retention.snapshots_prune()
        self.stdout.write(f"Deleted {deleted} snapshot(s).")
