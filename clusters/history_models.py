"""Counters over time: one row per value read, kept HISTORY_RETENTION_DAYS."""

from django.db import models


class Sample(models.Model):
    """One value of one series at one time, e.g. a session's write count on a node.

    series: what is counted (see clusters/services/history.py SERIES); key: of what (a
    DRBD volume, a LUN and initiator, a severity); node: where, when it is per node.
    """

    cluster = models.ForeignKey(
        "clusters.Cluster", on_delete=models.CASCADE, related_name="samples"
    )
    node = models.ForeignKey(
        "clusters.Node", on_delete=models.CASCADE, null=True, blank=True, related_name="samples"
    )
    series = models.CharField(max_length=30)
    key = models.CharField(max_length=300, blank=True)
    at = models.DateTimeField(db_index=True)
    value = models.FloatField()

    class Meta:
        app_label = "clusters"
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["cluster", "series", "at"])]

    def __str__(self) -> str:
        return f"{self.series} {self.key} {self.at:%Y-%m-%d %H:%M:%S} = {self.value}"
