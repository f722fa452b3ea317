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
    # An invited user's one-time link to set their password (Django's reset token).
    path(
        "accounts/invite/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="registration/invite_accept.html", post_reset_login=False
        ),
        name="password_reset_confirm",
    ),
    path(
        "accounts/invite/done/",
        auth_views.PasswordResetCompleteView.as_view(template_name="registration/invite_done.html"),
        name="password_reset_complete",
    ),
    path("admin/", admin.site.urls),
    path("audit/", audit_log, name="audit"),
    path("audit/export.csv", audit_export, name="audit-export"),
    path("api/", include("clusters.api.urls")),
    path("metrics/", MetricsView.as_view(), name="metrics"),
    path("", include("clusters.urls")),
]
