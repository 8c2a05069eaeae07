from django.urls import include, path

from tests.bench.bare.views import BareConcernCreateApi, BareSameRowsCreateApi

urlpatterns = [
    path("bench/bare/", BareConcernCreateApi.as_view(), name="bench-bare"),
    path("bench/bare-same-rows/", BareSameRowsCreateApi.as_view(), name="bench-bare-same-rows"),
    path("", include("backend.config.urls")),
]
