from clusters.views.clusters import cluster_collect, cluster_detail, cluster_list, home
from clusters.views.compliance import compliance, finding_mute
from clusters.views.hostkeys import host_key_approve
from clusters.views.jobs import job_detail, job_list

__all__ = [
    "cluster_collect",
    "cluster_detail",
    "cluster_list",
    "compliance",
    "finding_mute",
    "home",
    "host_key_approve",
    "job_detail",
    "job_list",
]
