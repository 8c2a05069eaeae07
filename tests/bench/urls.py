from django.urls import include, path

from tests.bench.bare.views import BareConcernCreateApi

urlpatterns = [
    path("bench/bare/", BareConcernCreateApi.as_view(), name="bench-bare"),
    path("", include("backend.config.urls")),
]
