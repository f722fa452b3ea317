from django.urls import path

from clusters import views

urlpatterns = [
    path("", views.home, name="home"),
    path("clusters/", views.cluster_list, name="cluster-list"),
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
]
