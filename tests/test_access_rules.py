"""The rules in clusters/access.py that no URL shows alone: the global-role check, the
jobs and audit entries each user sees, and the navigation links."""

from clusters import access
from clusters.models import Job, Role
from tests.factories import make_cluster, make_user


def test_a_global_viewer_holds_a_global_role_but_is_no_global_admin(db):
    viewer = make_user("gv", Role.VIEWER)
    assert access.holds_global_role(viewer)
    assert not access.is_global_admin(viewer)
    assert access.may_read_all_clusters(viewer)


def test_a_role_on_one_cluster_is_no_global_role(db):
    cluster = make_cluster()
    admin = make_user("ad", Role.ADMIN, cluster)
    assert not access.holds_global_role(admin)
    assert access.may_administer(admin, cluster)
    assert access.may_read_audit(admin)
    assert access.navigation(admin) == access.Navigation(can_read_audit=True)


def test_jobs_of_no_cluster_are_for_global_roles_only(db):
    cluster = make_cluster()
    Job.objects.create(kind=Job.Kind.COLLECT, cluster=None)
    mine = Job.objects.create(kind=Job.Kind.COLLECT, cluster=cluster)
    operator = make_user("op", Role.OPERATOR, cluster)
    assert list(access.visible_jobs(operator)) == [mine]
    assert access.visible_jobs(make_user("gv", Role.VIEWER)).count() == 2


def test_only_a_superuser_changes_a_superuser(db):
    root = make_user("root", is_superuser=True)
    admin = make_user("ga", Role.ADMIN)
    assert not access.may_change_account(admin, root)
    assert access.may_change_account(root, admin)
    assert access.navigation(admin) == access.Navigation(True, True, True)
