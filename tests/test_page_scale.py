"""The overview, cluster and compliance pages make as many queries for 50 clusters as for
5, and the cluster page as many for 6 LUNs as for 2 (docs/benchmarks.md has the timings
at 500 clusters x 2 nodes x 50 LUNs)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clusters.models import Cluster, Finding
from clusters.services.labsync import inventory_sync
from lab import api
from tests.factories import make_user
from tests.fleet import clone_cluster, fleet_of, lab_resources


def queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


def template_cluster(lab_factory, resources: int = 2) -> Cluster:
    """A lab cluster collected, adopted and evaluated, with a finding on one node."""
    with lab_resources(resources):
        lab = lab_factory(1)
    name = lab.manifest["clusters"][0]["name"]
    api.set_device_attr(lab.dir, f"{name}-a", "r0", "nv_cache", "1")
    inventory_sync(lab.manifest)
    return Cluster.objects.get(name=name)


@pytest.fixture
def admin_client(client, db):
    client.force_login(make_user("root", is_superuser=True, is_staff=True))
    return client


def test_page_queries_do_not_grow_with_the_number_of_clusters(admin_client, lab_factory):
    template = template_cluster(lab_factory)
    assert Finding.objects.filter(cluster=template, resolved_at=None).exists()
    pages = [
        reverse("cluster-list"),
        reverse("compliance"),
        reverse("cluster-detail", args=[template.name]),
    ]
    fleet_of(template, 5)
    for url in pages:
        queries(admin_client, url)  # sessions, caches: the first request differs
    at_5 = [queries(admin_client, url) for url in pages]
    for i in range(5, 50):
        clone_cluster(template, f"{template.name}-{i:03d}", 3000 + 2 * i)
    assert Cluster.objects.count() == 50
    at_50 = [queries(admin_client, url) for url in pages]
    assert at_50 == at_5
    page = admin_client.get(reverse("compliance")).content.decode()
    # The first page is full (PAGE_SIZE rows) and says how many pages follow.
    assert page.count("SCST_NV_CACHE_ON") >= 20 and "page 1 of" in page


def test_cluster_page_queries_do_not_grow_with_the_number_of_luns(admin_client, lab_factory):
    small = template_cluster(lab_factory, resources=2)
    url = reverse("cluster-detail", args=[small.name])
    queries(admin_client, url)
    two_luns = queries(admin_client, url)
    Cluster.objects.filter(pk=small.pk).update(name="small")  # the next lab's is c001 too
    large = template_cluster(lab_factory, resources=6)
    assert large.devices.count() == 6
    assert queries(admin_client, reverse("cluster-detail", args=[large.name])) == two_luns
