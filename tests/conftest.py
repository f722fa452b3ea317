import pytest

from clusters.models import Role
from tests.factories import make_cluster, make_user


@pytest.fixture
def cluster(db):
    return make_cluster("store-a")


@pytest.fixture
def other_cluster(db):
    return make_cluster("store-b")


@pytest.fixture
def personas(db, cluster, other_cluster):
    """The users the access rules are written for, keyed by what they are."""
    return {
        "anonymous": None,
        "no_membership": make_user("outsider"),
        "viewer": make_user("viewer", Role.VIEWER, cluster),
        "operator": make_user("operator", Role.OPERATOR, cluster),
        "admin_of_other_cluster": make_user("other-admin", Role.ADMIN, other_cluster),
        "admin": make_user("cluster-admin", Role.ADMIN, cluster),
        "global_viewer": make_user("global-viewer", Role.VIEWER, None),
        "superuser": make_user("root", is_superuser=True, is_staff=True),
    }


@pytest.fixture
def lab_factory(tmp_path):
    """Start labs of N clusters × 2 nodes; all are stopped after the test."""
    from lab import api
    from tests.lab_support import LabRunner

    runners = []

    def start(clusters: int = 1, drbd_version: str = "9") -> LabRunner:
        directory = tmp_path / f"lab{len(runners)}"
        api.create_lab(directory, clusters=clusters, drbd_version=drbd_version)
        runner = LabRunner(directory).start()
        runners.append(runner)
        return runner

    yield start
    for runner in runners:
        runner.stop()


@pytest.fixture
def lab(lab_factory):
    return lab_factory(1)


@pytest.fixture
def lab_cluster(db, lab):
    """The lab's one cluster, in the inventory (keys pinned, config adopted, collected)."""
    from clusters.models import Cluster
    from clusters.services.labsync import inventory_sync

    inventory_sync(lab.manifest)
    return Cluster.objects.get(name=lab.manifest["clusters"][0]["name"])


@pytest.fixture(autouse=True)
def _queue_mode(request):
    """Tasks run inline (eager) unless the test uses the real worker."""
    from portal.celery import app

    eager = "celery_worker" not in request.fixturenames
    app.conf.task_always_eager = eager
    yield
    app.conf.task_always_eager = True


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real worker on Redis and the test database (PostgreSQL runs of `make test`)."""
    from django.conf import settings
    from django.db import connection

    from tests.celery_support import database_url, start_worker

    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        pytest.skip("needs PostgreSQL and REDIS_URL (make test sets both)")
    import redis

    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    log = tmp_path_factory.mktemp("celery") / "worker.log"
    process = start_worker(database_url(connection.settings_dict), settings.REDIS_URL, log)
    yield process
    process.terminate()
    process.wait(20)


@pytest.fixture
def spare_cluster(db, lab):
    """A managed lab cluster whose DRBD resource r1 exports no LUN yet (for adding one)."""
    from clusters.models import Cluster
    from clusters.services.labsync import inventory_sync
    from lab import api
    from lab.scstadmin import write_config

    name = lab.manifest["clusters"][0]["name"]
    for suffix in "ab":
        node = api.node(lab.dir, f"{name}-{suffix}")
        with node.session():
            node.state.scst.devices.pop("r1")
            for target in node.state.scst.drivers["iscsi"].values():
                target.luns = {k: v for k, v in target.luns.items() if v.device != "r1"}
            node.dirty_node = True
            # As an admin would: `scstadmin -write_config /etc/scst.conf` after the edit.
            node.host_path("/etc/scst.conf").write_text(write_config(node.state, False))
    inventory_sync(lab.manifest)
    return Cluster.objects.get(name=name)
