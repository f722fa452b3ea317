from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from clusters.metrics import MetricsView
from clusters.views.audit import audit_export, audit_log

urlpatterns = [
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("audit/", audit_log, name="audit"),
    path("audit/export.csv", audit_export, name="audit-export"),
    path("api/", include("clusters.api.urls")),
    path("metrics/", MetricsView.as_view(), name="metrics"),
    path("", include("clusters.urls")),
]
