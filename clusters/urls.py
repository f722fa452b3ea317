from django.urls import path

from clusters import views

urlpatterns = [
    path("", views.home, name="home"),
    path("clusters/", views.cluster_list, name="cluster-list"),
    path("clusters/<str:cluster_name>/", views.cluster_detail, name="cluster-detail"),
]
