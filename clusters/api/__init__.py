"""The JSON API: the same data and roles as the pages (clusters.access), for scripts."""
