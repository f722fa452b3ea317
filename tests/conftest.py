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
