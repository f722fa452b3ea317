from django.urls import path

from clusters import views
from clusters.views import changes as change_views
from clusters.views import onboarding, reconcile, wizard
from clusters.views import workflows as workflow_views

urlpatterns = [
    path("", views.home, name="home"),
    path("clusters/", views.cluster_list, name="cluster-list"),
    path("add-cluster/", onboarding.cluster_add, name="cluster-add"),
    path(
        "clusters/<str:cluster_name>/discover/",
        onboarding.cluster_discover,
        name="cluster-discover",
    ),
    path("clusters/<str:cluster_name>/import/", onboarding.cluster_import, name="cluster-import"),
    path("clusters/<str:cluster_name>/mode/", onboarding.cluster_mode, name="cluster-mode"),
    path("clusters/<str:cluster_name>/", views.cluster_detail, name="cluster-detail"),
    path("clusters/<str:cluster_name>/collect/", views.cluster_collect, name="cluster-collect"),
    path(
        "clusters/<str:cluster_name>/nodes/<str:node_name>/approve-host-key/",
        views.host_key_approve,
        name="host-key-approve",
    ),
    path("compliance/", views.compliance, name="compliance"),
    path("findings/<int:finding_id>/mute/", views.finding_mute, name="finding-mute"),
    path("jobs/<int:job_id>/", views.job_detail, name="job-detail"),
    path("jobs/<int:job_id>/reconcile/", reconcile.job_reconcile, name="job-reconcile"),
    # Changes: the add-LUN wizard, plans and their apply, removal, revisions, the lock.
    path("clusters/<str:cluster_name>/luns/add/", wizard.lun_add, name="lun-add"),
    path(
        "clusters/<str:cluster_name>/luns/<int:mapping_id>/remove/",
        change_views.lun_remove,
        name="lun-remove",
    ),
    path(
        "clusters/<str:cluster_name>/revisions/<int:revision_id>/revert/",
        change_views.revision_revert,
        name="revision-revert",
    ),
    path("clusters/<str:cluster_name>/lock/", change_views.cluster_lock, name="cluster-lock"),
    path(
        "clusters/<str:cluster_name>/enforce/", change_views.cluster_enforce, name="cluster-enforce"
    ),
    path("plans/<int:job_id>/", change_views.plan_detail, name="plan-detail"),
    path("plans/<int:job_id>/apply/", change_views.plan_apply, name="plan-apply"),
    # Day-2 workflows: each ends in a workflow plan and its run.
    path(
        "clusters/<str:cluster_name>/devices/<str:device>/edit/",
        workflow_views.lun_edit,
        name="lun-edit",
    ),
    path(
        "clusters/<str:cluster_name>/devices/<str:device>/grow/",
        workflow_views.lun_grow,
        name="lun-grow",
    ),
    path(
        "clusters/<str:cluster_name>/resources/<str:resource>/verify/",
        workflow_views.resource_verify,
        name="resource-verify",
    ),
    path(
        "clusters/<str:cluster_name>/resources/<str:resource>/resync/",
        workflow_views.resource_resync,
        name="resource-resync",
    ),
    path(
        "clusters/<str:cluster_name>/resources/<str:resource>/split-brain/",
        workflow_views.resource_split_brain,
        name="resource-split-brain",
    ),
    path("workflows/<int:workflow_id>/", workflow_views.workflow_plan, name="workflow-plan"),
    path("workflows/<int:workflow_id>/run/", workflow_views.workflow_apply, name="workflow-apply"),
]
