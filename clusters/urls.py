from django.urls import path

from clusters import views
from clusters.views import adoption, alerts, history, people, reconcile, wizard
from clusters.views import changes as change_views
from clusters.views import workflows as workflow_views

urlpatterns = [
    path("", views.home, name="home"),
    path("clusters/", views.cluster_list, name="cluster-list"),
    path("add-cluster/", adoption.cluster_add, name="adoption-add"),
    path(
        "clusters/<str:cluster_name>/discover/",
        adoption.cluster_discover,
        name="adoption-discover",
    ),
    path("clusters/<str:cluster_name>/import/", adoption.cluster_import, name="adoption-import"),
    path("clusters/<str:cluster_name>/mode/", adoption.cluster_mode, name="adoption-mode"),
    path("clusters/<str:cluster_name>/", views.cluster_detail, name="cluster-detail"),
    path("clusters/<str:cluster_name>/collect/", views.cluster_collect, name="cluster-collect"),
    path(
        "clusters/<str:cluster_name>/nodes/<str:node_name>/approve-host-key/",
        views.host_key_approve,
        name="host-key-approve",
    ),
    path("compliance/", views.compliance, name="compliance"),
    path("findings/<int:finding_id>/mute/", views.finding_mute, name="finding-mute"),
    path("jobs/", views.job_list, name="job-list"),
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
    # People and access: users and global roles (global admins), a cluster's roles (its
    # admins), everyone's own API tokens.
    path("people/", people.people_list, name="people-list"),
    path("people/add/", people.person_add, name="person-add"),
    path("people/<int:user_id>/", people.person_detail, name="person-detail"),
    path("people/<int:user_id>/roles/", people.person_role_grant, name="person-role-grant"),
    path("people/<int:user_id>/active/", people.person_active, name="person-active"),
    path(
        "memberships/<int:membership_id>/revoke/",
        people.membership_revoke,
        name="membership-revoke",
    ),
    path("clusters/<str:cluster_name>/access/", people.cluster_access, name="cluster-access"),
    path("tokens/", people.tokens, name="tokens"),
    path("tokens/<int:token_id>/revoke/", people.token_revoke, name="token-revoke"),
    # History (charts) and alerts.
    path("clusters/<str:cluster_name>/history/", history.cluster_history, name="cluster-history"),
    path(
        "clusters/<str:cluster_name>/luns/<str:device_name>/history/",
        history.lun_history,
        name="lun-history",
    ),
    path("alerts/", alerts.alerts_home, name="alerts"),
    path("alerts/deliveries/", alerts.deliveries, name="alert-deliveries"),
    path("alerts/channels/add/", alerts.channel_edit, name="alert-channel-add"),
    path("alerts/channels/<int:channel_id>/", alerts.channel_edit, name="alert-channel-edit"),
    path(
        "alerts/channels/<int:channel_id>/delete/",
        alerts.channel_delete,
        name="alert-channel-delete",
    ),
    path("alerts/channels/<int:channel_id>/test/", alerts.channel_test, name="alert-channel-test"),
    path("alerts/subscriptions/add/", alerts.subscription_add, name="alert-subscription-add"),
    path(
        "alerts/subscriptions/<int:subscription_id>/delete/",
        alerts.subscription_delete,
        name="alert-subscription-delete",
    ),
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
    path(
        "clusters/<str:cluster_name>/nodes/<str:node_name>/maintenance/",
        workflow_views.node_drain,
        name="node-drain",
    ),
    path(
        "clusters/<str:cluster_name>/nodes/<str:node_name>/return/",
        workflow_views.node_return,
        name="node-return",
    ),
    path("workflows/<int:workflow_id>/", workflow_views.workflow_plan, name="workflow-plan"),
    path("workflows/<int:workflow_id>/run/", workflow_views.workflow_apply, name="workflow-apply"),
]
