from clusters.views.clusters import cluster_detail, cluster_list, home

__all__ = ["cluster_detail", "cluster_list", "home"]
