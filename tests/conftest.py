import os

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
    from tests.loop_support import off_the_event_loop

    off_the_event_loop(lambda: inventory_sync(lab.manifest))
    return Cluster.objects.get(name=lab.manifest["clusters"][0]["name"])


@pytest.fixture(autouse=True)
def _queue_mode(request):
    """Tasks run inline (eager) unless the test uses the real worker."""
    from portal.celery import app

    eager = not {"celery_worker", "workers"} & set(request.fixturenames)
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
    from tests.loop_support import off_the_event_loop

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
    off_the_event_loop(lambda: inventory_sync(lab.manifest))
    return Cluster.objects.get(name=name)


# The directory the LDAP tests log in against: people, their groups, and the role map.
LDAP_PEOPLE = {
    "alice": ("Alice", "Admin"),
    "bob": ("Bob", "Operator"),
    "carol": ("Carol", "Nogroup"),
    "clash": ("Clash", "Local"),
}
LDAP_GROUPS = {
    "storage-admins": ["alice"],
    "store-a-operators": ["bob"],
    "store-a-viewers": ["bob", "carol"],
    "ghost-operators": ["carol"],
}
LDAP_ROLE_MAP = {
    "cn=storage-admins,ou=groups,dc=example,dc=org": "admin",
    "cn=store-a-operators,ou=groups,dc=example,dc=org": "operator@store-a",
    "cn=store-a-viewers,ou=groups,dc=example,dc=org": ["viewer@store-a"],
    "cn=ghost-operators,ou=groups,dc=example,dc=org": "operator@no-such-cluster",
}


@pytest.fixture
def ldap_directory(tmp_path, settings):
    """A real slapd with LDAP_PEOPLE and LDAP_GROUPS; the portal configured for it from
    the same environment variables production uses."""
    import json

    from portal.ldap_settings import ldap_settings
    from tests.ldap_support import SLAPD, directory_ldif, start_slapd

    if not os.path.exists(SLAPD):
        pytest.skip("slapd is not installed (scripts/system-packages.sh installs it)")
    slapd = start_slapd(tmp_path / "slapd", directory_ldif(LDAP_PEOPLE, LDAP_GROUPS))
    for name, value in ldap_settings(slapd.env(json.dumps(LDAP_ROLE_MAP))).items():
        setattr(settings, name, value)
    settings.AUTHENTICATION_BACKENDS = [
        *settings.AUTHENTICATION_BACKENDS,
        "clusters.directory.PortalLDAPBackend",
    ]
    yield slapd
    slapd.stop()


@pytest.fixture
def workers(tmp_path):
    """Worker processes of the test's own (on queue `faults`), to kill and restart."""
    from django.conf import settings
    from django.db import connection

    from tests.change_support import Workers

    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        pytest.skip("needs PostgreSQL and REDIS_URL (make test sets both)")
    pool = Workers(tmp_path, settings.REDIS_URL)
    yield pool
    pool.stop()
