from django.contrib.auth.decorators import login_required
from django.urls import path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from clusters.api import views

app_name = "api"

urlpatterns = [
    path("clusters/", views.ClusterList.as_view(), name="cluster-list"),
    path("clusters/<str:cluster_name>/", views.ClusterDetail.as_view(), name="cluster-detail"),
    path("clusters/<str:cluster_name>/nodes/", views.NodeList.as_view(), name="node-list"),
    path("clusters/<str:cluster_name>/luns/", views.LunList.as_view(), name="lun-list"),
    path(
        "clusters/<str:cluster_name>/collect/",
        views.CollectionCreate.as_view(),
        name="cluster-collect",
    ),
    path("clusters/<str:cluster_name>/plans/", views.PlanCreate.as_view(), name="plan-create"),
    path("plans/<int:job_id>/", views.PlanDetail.as_view(), name="plan-detail"),
    path("plans/<int:job_id>/apply/", views.ApplyCreate.as_view(), name="plan-apply"),
    path("findings/", views.FindingList.as_view(), name="finding-list"),
    path("jobs/", views.JobList.as_view(), name="job-list"),
    path("jobs/<int:job_id>/", views.JobDetail.as_view(), name="job-detail"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # Browsable docs for people: a login redirect rather than the API's 401.
    path("", login_required(RedirectView.as_view(pattern_name="api:docs")), name="root"),
    path(
        "docs/",
        login_required(SpectacularSwaggerView.as_view(url_name="api:schema")),
        name="docs",
    ),
    path(
        "redoc/",
        login_required(SpectacularRedocView.as_view(url_name="api:schema")),
        name="redoc",
    ),
]
